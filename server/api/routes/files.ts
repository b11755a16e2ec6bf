import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { NextFunction, Request, Response, Router } from 'express';
import multer from 'multer';
import type { ApiContext } from '../context';
import { HttpError } from '../http-errors';
import { checkRelative, confinedPath, writeAtomic } from '../safe-paths';

type FolderType = 'output' | 'input' | 'temp';

function folderFor(ctx: ApiContext, type: unknown): string {
  switch (type ?? 'output') {
    case 'output':
      return ctx.cfg.outputDir;
    case 'input':
      return ctx.cfg.inputDir;
    case 'temp':
      return ctx.cfg.tempDir;
    default:
      throw new HttpError(400, 'invalid_request', `type must be output, input or temp (got ${String(type)})`);
  }
}

function stringParam(v: unknown, name: string, fallback: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string')
    throw new HttpError(400, 'invalid_request', `'${name}' must be given once, as text`);
  return v;
}

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

/** Image signatures (magic bytes) of the formats uploads accept. */
export function detectImageType(buf: Buffer): 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | null {
  if (
    buf.length >= 8 &&
    buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  ) {
    return 'png';
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 6 && /^GIF8[79]a$/.test(buf.subarray(0, 6).toString('latin1'))) return 'gif';
  if (
    buf.length >= 12 &&
    buf.subarray(0, 4).toString('latin1') === 'RIFF' &&
    buf.subarray(8, 12).toString('latin1') === 'WEBP'
  ) {
    return 'webp';
  }
  if (buf.length >= 14 && buf[0] === 0x42 && buf[1] === 0x4d) return 'bmp';
  return null;
}

const EXT_TYPE: Record<string, string> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.gif': 'gif',
  '.webp': 'webp',
  '.bmp': 'bmp',
};
const MIME_TYPE: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
};

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function fileRoutes(r: Router, ctx: ApiContext): void {
  r.get('/view', (req, res) => {
    const filename = stringParam(req.query.filename, 'filename', '');
    if (!filename) throw new HttpError(400, 'invalid_request', "query parameter 'filename' is required");
    const subfolder = stringParam(req.query.subfolder, 'subfolder', '');
    const base = folderFor(ctx, req.query.type);
    checkRelative('filename', filename, { allowSlash: false });
    checkRelative('subfolder', subfolder, { allowSlash: true });
    const file = confinedPath(base, subfolder, filename);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw new HttpError(
        404,
        'not_found',
        `no file ${path.posix.join(subfolder, filename)} in ${req.query.type ?? 'output'}`,
      );
    }
    if (!stat.isFile()) throw new HttpError(404, 'not_found', `${filename} is not a file`);
    const ext = path.extname(filename).toLowerCase();
    const type = CONTENT_TYPES[ext];
    const headers: Record<string, string> = {
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    };
    // Anything that a browser could run (html, svg, scripts) is only ever downloaded.
    const safeName = filename.replace(/["\\\r\n]/g, '_');
    if (type) {
      headers['Content-Type'] = type;
      headers['Content-Disposition'] = `inline; filename="${safeName}"`;
    } else {
      headers['Content-Type'] = 'application/octet-stream';
      headers['Content-Disposition'] = `attachment; filename="${safeName}"`;
    }
    res.sendFile(fs.realpathSync(file), { headers, dotfiles: 'allow' });
  });

  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: ctx.cfg.maxUploadBytes, files: 1, fields: 20, fieldSize: 64 * 1024 },
  });
  const receive = (req: Request, res: Response, next: NextFunction): void => {
    upload.single('image')(req, res, (err: unknown) => {
      if (!err) return next();
      const e = err as { code?: string; message?: string };
      if (e.code === 'LIMIT_FILE_SIZE') {
        next(
          new HttpError(413, 'upload_too_large', `the file is larger than ${ctx.cfg.maxUploadBytes} bytes`),
        );
      } else {
        next(new HttpError(400, 'invalid_upload', `invalid upload: ${e.message ?? String(err)}`));
      }
    });
  };

  r.post('/upload/image', receive, (req, res) => {
    const file = req.file;
    if (!file) throw new HttpError(400, 'invalid_upload', "multipart field 'image' (the file) is missing");
    const body = (req.body ?? {}) as Record<string, unknown>;
    const type = stringParam(body.type, 'type', 'input') as FolderType;
    const base = folderFor(ctx, type);
    const subfolder = stringParam(body.subfolder, 'subfolder', '');
    const overwrite = ['true', '1'].includes(stringParam(body.overwrite, 'overwrite', 'false'));
    const name = file.originalname;
    if (!name || name.startsWith('.') || name.length > 200) {
      throw new HttpError(
        400,
        'invalid_upload',
        'the file needs a name (not starting with a dot, ≤ 200 characters)',
      );
    }
    checkRelative('filename', name, { allowSlash: false });
    checkRelative('subfolder', subfolder, { allowSlash: true });
    const ext = path.extname(name).toLowerCase();
    const claimed = EXT_TYPE[ext];
    if (!claimed) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `'${name}': only .png, .jpg, .jpeg, .webp, .gif and .bmp images can be uploaded`,
      );
    }
    const declared = MIME_TYPE[file.mimetype.toLowerCase()];
    if (file.mimetype.startsWith('image/') && declared !== claimed) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `'${name}' is sent as ${file.mimetype} but named .${ext.slice(1)}`,
      );
    }
    const detected = detectImageType(file.buffer);
    if (detected !== claimed) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `'${name}' is not a ${claimed.toUpperCase()} image (its content is ${detected ? detected.toUpperCase() : 'not a known image format'})`,
      );
    }
    const dir = confinedPath(base, subfolder);
    fs.mkdirSync(dir, { recursive: true });
    confinedPath(base, subfolder); // again, now that it exists: no symlink out of base
    let finalName = name;
    let target = path.join(dir, finalName);
    if (!overwrite) {
      const stem = path.basename(name, path.extname(name));
      const digest = sha256(file.buffer);
      for (let i = 1; fs.existsSync(target); i++) {
        // The same picture uploaded twice keeps one file (as ComfyUI).
        if (fs.statSync(target).isFile() && sha256(fs.readFileSync(target)) === digest) break;
        finalName = `${stem} (${i})${path.extname(name)}`;
        target = path.join(dir, finalName);
      }
    }
    confinedPath(base, subfolder, finalName);
    writeAtomic(target, file.buffer);
    res.json({ name: finalName, subfolder, type });
  });

  r.get('/models', (_req, res) => {
    const dir = ctx.cfg.modelsDir;
    const folders = fs.existsSync(dir)
      ? fs
          .readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
          .map((e) => e.name)
          .sort()
      : [];
    res.json(folders);
  });

  r.get('/models/:folder', (req, res) => {
    const folder = req.params.folder;
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(folder)) {
      throw new HttpError(404, 'not_found', `no model folder '${folder}'`);
    }
    const dir = confinedPath(ctx.cfg.modelsDir, folder);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new HttpError(404, 'not_found', `no model folder '${folder}'`);
    }
    const files: string[] = [];
    const walk = (d: string, rel: string, depth: number): void => {
      if (depth > 8) return;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.name.startsWith('.')) continue;
        const relName = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(d, e.name), relName, depth + 1);
        else if (e.isFile()) files.push(relName);
      }
    };
    walk(dir, '', 0);
    res.json(files.sort());
  });
}
