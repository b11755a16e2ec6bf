"""PyTorch peer of ddit-studio's models for the side-by-side benchmark (test/bench/peer-bench.ts).

The same D-DiT (spec section 1), T5 encoder and diffusers-layout AutoencoderKL, written functionally over
the checkpoint's tensors (PyTorch orientation, the reference parameter names under the prefixes
transformer., vae., text_encoder.), and the same sampling and training procedures the TypeScript side runs:
28-step Euler flow sampling with batched CFG, the cached masked ancestral sampler (driven by a shared
stream of uniforms, so both sides take the same path), and one AdamW training step.

Run by the benchmark as a worker (Debian's python3-torch, /usr/bin/python3):
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 ddit_peer.py --setup DIR --task NAME
then, on stdin, one command per line: run | check FILE | mem | quit; answers are JSON lines on stdout.
    python3 ddit_peer.py --sgemm     prints the measured fp32 GEMM ceiling (GFLOP/s)
"""

import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)

# ---------------------------------------------------------------------------------------------------------
# safetensors (only what the benchmark files use: F32 and I32, little-endian)

_DTYPES = {"F32": np.float32, "I32": np.int32, "F64": np.float64, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        dtype = _DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        arr = np.frombuffer(data, dtype=dtype, count=(b - a) // np.dtype(dtype).itemsize, offset=base + a)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out, meta


def save_safetensors(path, tensors):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        a = t.detach().contiguous().cpu().numpy()
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------------------------------------
# D-DiT (spec section 1)


def linear(x, w, name):
    b = w.get(name + ".bias")
    return F.linear(x, w[name + ".weight"], b)


def layer_norm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def attention(q, k, v, heads, scale, bias=None):
    b, lq, d = q.shape
    lk = k.shape[1]
    dh = d // heads
    q4 = q.reshape(b, lq, heads, dh).transpose(1, 2)
    k4 = k.reshape(b, lk, heads, dh).transpose(1, 2)
    v4 = v.reshape(b, lk, heads, v.shape[2] // heads).transpose(1, 2)
    s = torch.matmul(q4 * scale if scale != 1 else q4, k4.transpose(-1, -2))
    if bias is not None:
        s = s + bias
    o = torch.matmul(torch.softmax(s, dim=-1), v4)
    return o.transpose(1, 2).reshape(b, lq, v.shape[2])


class DDiT:
    def __init__(self, w, cfg):
        self.w = w
        self.cfg = cfg
        self.D = cfg["num_attention_heads"] * cfg["attention_head_dim"]
        self.H = cfg["num_attention_heads"]
        half = 128
        self.freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)

    def params(self):
        return [t for k, t in self.w.items() if k != "pos_embed.pos_embed"]

    def block(self, i, x, c, sy, keep_x, keep_c):
        w = self.w
        p = "transformer_blocks.%d." % i
        D = self.D
        mx = linear(sy, w, p + "norm1.linear").unsqueeze(1).chunk(6, dim=2)
        mc = linear(sy, w, p + "norm1_context.linear").unsqueeze(1).chunk(6, dim=2)
        xn = layer_norm(x) * (1 + mx[1]) + mx[0]
        cn = layer_norm(c) * (1 + mc[1]) + mc[0]
        a = p + "attn."
        q = torch.cat([linear(xn, w, a + "to_q"), linear(cn, w, a + "add_q_proj")], 1)
        k = torch.cat([linear(xn, w, a + "to_k"), linear(cn, w, a + "add_k_proj")], 1)
        v = torch.cat([linear(xn, w, a + "to_v"), linear(cn, w, a + "add_v_proj")], 1)
        o = attention(q, k, v, self.H, 1.0 / math.sqrt(D // self.H))
        n = x.shape[1]
        if keep_x:
            x = x + mx[2] * linear(o[:, :n], w, a + "to_out.0")
            h = layer_norm(x) * (1 + mx[4]) + mx[3]
            ff = linear(F.gelu(linear(h, w, p + "ff.net.0.proj"), approximate="tanh"), w, p + "ff.net.2")
            x = x + mx[5] * ff
        if keep_c:
            c = c + mc[2] * linear(o[:, n:], w, a + "to_add_out")
            h = layer_norm(c) * (1 + mc[4]) + mc[3]
            ff = linear(
                F.gelu(linear(h, w, p + "ff_context.net.0.proj"), approximate="tanh"), w, p + "ff_context.net.2"
            )
            c = c + mc[5] * ff
        return x, c

    def forward(self, z, tau, enc, image=True, text=True):
        """z [B,h,w,C] NHWC, tau [B], enc [B,M,d] -> (velocity [B,h,w,C] or None, logits [B,M,V] or None)."""
        w = self.w
        cfg = self.cfg
        D = self.D
        p = cfg["patch_size"]
        G = cfg["pos_embed_max_size"]
        B, hh, ww, C = z.shape
        gh, gw = hh // p, ww // p
        tokens = F.conv2d(z.permute(0, 3, 1, 2), w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=p)
        tokens = tokens.flatten(2).transpose(1, 2)
        top, left = (G - gh) // 2, (G - gw) // 2
        pos = w["pos_embed.pos_embed"].reshape(G, G, D)[top : top + gh, left : left + gw].reshape(1, gh * gw, D)
        x = tokens + pos
        args = tau.reshape(-1, 1) * self.freqs.reshape(1, -1)
        temb = torch.cat([torch.cos(args), torch.sin(args)], 1)
        te = "time_text_embed.timestep_embedder."
        y = linear(F.silu(linear(temb, w, te + "linear_1")), w, te + "linear_2")
        if cfg.get("text_pooling", "none") == "mean":
            tx = "time_text_embed.text_embedder."
            y = y + linear(F.silu(linear(enc.mean(1), w, tx + "linear_1")), w, tx + "linear_2")
        sy = F.silu(y)
        c = linear(enc, w, "context_embedder")
        last = cfg["num_layers"] - 1
        for i in range(cfg["num_layers"]):
            x, c = self.block(i, x, c, sy, i < last or image, i < last or text)
        velocity = logits = None
        if image:
            scale, shift = linear(sy, w, "image_norm_out.linear").unsqueeze(1).chunk(2, dim=2)
            out = linear(layer_norm(x) * (1 + scale) + shift, w, "image_proj_out")
            cout = out.shape[2] // (p * p)
            velocity = out.reshape(B, gh, gw, p, p, cout).permute(0, 1, 3, 2, 4, 5).reshape(B, gh * p, gw * p, cout)
        if text:
            logits = linear(layer_norm(c), w, "text_proj_out")
        return velocity, logits


# ---------------------------------------------------------------------------------------------------------
# T5 encoder (Hugging Face T5EncoderModel layout)


def relative_bucket(rel, num_buckets, max_distance):
    n = num_buckets // 2
    ret = (rel > 0).long() * n
    r = rel.abs()
    max_exact = n // 2
    is_small = r < max_exact
    large = max_exact + (
        torch.log(r.float() / max_exact) / math.log(max_distance / max_exact) * (n - max_exact)
    ).long()
    large = torch.minimum(large, torch.full_like(large, n - 1))
    return ret + torch.where(is_small, r, large)


class T5:
    def __init__(self, w, cfg):
        self.w = w
        self.cfg = cfg
        proj = cfg.get("feed_forward_proj", "relu")
        self.gated = proj.startswith("gated-")
        act = proj[6:] if self.gated else proj
        if act == "relu":
            self.act = F.relu
        elif act == "gelu" and not self.gated:
            self.act = F.gelu
        else:
            self.act = lambda t: F.gelu(t, approximate="tanh")
        self.eps = cfg.get("layer_norm_epsilon", 1e-6)
        self.bias_cache = {}

    def rms(self, x, name):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.w[name + ".weight"]

    def position_bias(self, m):
        b = self.bias_cache.get(m)
        if b is None:
            pos = torch.arange(m)
            rel = pos.reshape(1, -1) - pos.reshape(-1, 1)
            buckets = relative_bucket(
                rel, self.cfg.get("relative_attention_num_buckets", 32), self.cfg.get("relative_attention_max_distance", 128)
            )
            table = self.w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
            b = table[buckets].permute(2, 0, 1).unsqueeze(0)
            self.bias_cache[m] = b
        return b

    def encode(self, ids):
        w = self.w
        cfg = self.cfg
        h = w["shared.weight"][ids.long()]
        if "embed_positions.weight" in w:  # learned absolute positions (ddit-studio's small encoders)
            h = h + w["embed_positions.weight"][: ids.shape[1]]
        bias = self.position_bias(ids.shape[1])
        heads = cfg["num_heads"]
        for i in range(cfg["num_layers"]):
            p = "encoder.block.%d.layer." % i
            n0 = self.rms(h, p + "0.layer_norm")
            a = p + "0.SelfAttention."
            o = attention(
                F.linear(n0, w[a + "q.weight"]), F.linear(n0, w[a + "k.weight"]), F.linear(n0, w[a + "v.weight"]), heads, 1, bias
            )
            h = h + F.linear(o, w[a + "o.weight"])
            s = p + "0.TokenShift."
            if s + "prev.weight" in w:  # token shift (ddit-studio's T5Config.token_shift, not in T5)
                prev = F.pad(n0[:, :-1], (0, 0, 1, 0))
                nxt = F.pad(n0[:, 1:], (0, 0, 0, 1))
                h = h + F.linear(prev, w[s + "prev.weight"]) + F.linear(nxt, w[s + "next.weight"])
            n1 = self.rms(h, p + "1.layer_norm")
            f = p + "1.DenseReluDense."
            if self.gated:
                inner = self.act(F.linear(n1, w[f + "wi_0.weight"])) * F.linear(n1, w[f + "wi_1.weight"])
            else:
                inner = self.act(F.linear(n1, w[f + "wi.weight"]))
            h = h + F.linear(inner, w[f + "wo.weight"])
        return self.rms(h, "encoder.final_layer_norm")


# ---------------------------------------------------------------------------------------------------------
# AutoencoderKL (diffusers layout)


class VAE:
    def __init__(self, w, cfg):
        self.w = w
        self.cfg = cfg
        self.groups = cfg.get("norm_num_groups", 32)
        self.scale = cfg.get("scaling_factor", 1.0)
        self.shift = cfg.get("shift_factor") or 0.0
        self.levels = len(cfg["block_out_channels"])
        self.layers = cfg.get("layers_per_block", 2)

    def conv(self, x, name, stride=1, padding=None):
        wt = self.w[name + ".weight"]
        if padding is None:
            padding = wt.shape[-1] // 2
        return F.conv2d(x, wt, self.w.get(name + ".bias"), stride=stride, padding=padding)

    def norm(self, x, name):
        return F.group_norm(x, self.groups, self.w[name + ".weight"], self.w[name + ".bias"], eps=1e-6)

    def resnet(self, x, p):
        h = self.conv(F.silu(self.norm(x, p + "norm1")), p + "conv1")
        h = self.conv(F.silu(self.norm(h, p + "norm2")), p + "conv2")
        skip = self.conv(x, p + "conv_shortcut") if (p + "conv_shortcut.weight") in self.w else x
        return skip + h

    def attn(self, x, p):
        B, C, H, W = x.shape
        t = self.norm(x, p + "group_norm").reshape(B, C, H * W).transpose(1, 2)
        q, k, v = (linear(t, self.w, p + n) for n in ("to_q", "to_k", "to_v"))
        o = linear(attention(q, k, v, 1, 1.0 / math.sqrt(C)), self.w, p + "to_out.0")
        return x + o.transpose(1, 2).reshape(B, C, H, W)

    def mid(self, x, p):
        h = self.resnet(x, p + "resnets.0.")
        if (p + "attentions.0.to_q.weight") in self.w:
            h = self.attn(h, p + "attentions.0.")
        return self.resnet(h, p + "resnets.1.")

    def decode(self, latent):
        """DiT-space latent [B,h,w,C] -> image [B,H,W,3] in [0,1]."""
        z = (latent / self.scale + self.shift).permute(0, 3, 1, 2)
        if "post_quant_conv.weight" in self.w:
            z = self.conv(z, "post_quant_conv")
        h = self.mid(self.conv(z, "decoder.conv_in"), "decoder.mid_block.")
        for i in range(self.levels):
            p = "decoder.up_blocks.%d." % i
            for j in range(self.layers + 1):
                h = self.resnet(h, p + "resnets.%d." % j)
            if i < self.levels - 1:
                h = self.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), p + "upsamplers.0.conv")
        x = self.conv(F.silu(self.norm(h, "decoder.conv_norm_out")), "decoder.conv_out")
        return ((x + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)

    def encode_mean(self, image):
        """Image [B,H,W,3] in [0,1] -> DiT-space posterior mean [B,h,w,C]."""
        h = self.conv((image * 2 - 1).permute(0, 3, 1, 2), "encoder.conv_in")
        for i in range(self.levels):
            p = "encoder.down_blocks.%d." % i
            for j in range(self.layers):
                h = self.resnet(h, p + "resnets.%d." % j)
            if i < self.levels - 1:
                h = self.conv(F.pad(h, (0, 1, 0, 1)), p + "downsamplers.0.conv", stride=2, padding=0)
        h = self.mid(h, "encoder.mid_block.")
        m = self.conv(F.silu(self.norm(h, "encoder.conv_norm_out")), "encoder.conv_out")
        if "quant_conv.weight" in self.w:
            m = self.conv(m, "quant_conv")
        mean = m[:, : m.shape[1] // 2]
        return ((mean - self.shift) * self.scale).permute(0, 2, 3, 1)


# ---------------------------------------------------------------------------------------------------------
# samplers and the training step (the procedures of nodes/sampling and nodes/training)


def flow_sigmas(steps, shift=3.0):
    def shifted(s):
        return shift * s / (1 + (shift - 1) * s)

    smin = shifted(1 / 1000)
    out = [shifted(1 if steps == 1 else 1 + (smin - 1) * i / (steps - 1)) for i in range(steps)]
    return out + [0.0]


class Uniforms:
    """The shared stream of uniforms both sides draw from (in the same order)."""

    def __init__(self, values):
        self.v = values.numpy().astype(np.float64)
        self.i = 0

    def take(self, n):
        idx = (self.i + np.arange(n)) % len(self.v)
        self.i += n
        return self.v[idx]


def subs_probabilities(logits, x, mask_id):
    """Masked rows: softmax over the real tokens; others: one-hot on their token (float32, as the TS code)."""
    lg = logits.astype(np.float64)
    rows, vocab = lg.shape
    p = np.zeros((rows, vocab), dtype=np.float32)
    masked = x == mask_id
    if masked.any():
        l = lg[masked].copy()
        l[:, mask_id] = -np.inf
        e = np.exp(l - l.max(axis=1, keepdims=True))
        p[masked] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    keep = np.nonzero(~masked)[0]
    p[keep, x[keep]] = 1
    return p


def sample_masked(template, fixed, mask_id, steps, uniforms, probs_fn, eps=1e-5):
    x = np.where(fixed, template, mask_id).astype(np.int64)
    dt = (1 - eps) / steps
    p = None
    passes = 0
    for j in range(steps):
        t = 1 - j * dt
        s = t - dt
        if p is None:
            p = probs_fn(x)
            passes += 1
        vocab = p.shape[1]
        nxt = x.copy()
        rows = np.nonzero(x == mask_id)[0]
        if len(rows):
            q = p[rows].astype(np.float64) * (t - s)
            q[:, mask_id] = s
            u = uniforms.take(len(rows) * vocab).reshape(len(rows), vocab)
            e = 1e-10 - np.log(u + 1e-10)
            nxt[rows] = np.argmax(q / e, axis=1)
        if not np.array_equal(nxt, x):
            p = None
        x = nxt
    if (x == mask_id).any():
        if p is None:
            p = probs_fn(x)
            passes += 1
        rows = np.nonzero(x == mask_id)[0]
        pr = p[rows].copy()
        pr[:, mask_id] = -np.inf
        x[rows] = np.argmax(pr, axis=1)
    return x, passes


class Peer:
    def __init__(self, setup):
        ck, meta = load_safetensors(os.path.join(setup, "checkpoint.safetensors"))
        self.inputs, _ = load_safetensors(os.path.join(setup, "inputs.safetensors"))
        with open(os.path.join(setup, "bench.json")) as f:
            self.bench = json.load(f)

        def part(prefix):
            return {k[len(prefix) :]: v for k, v in ck.items() if k.startswith(prefix)}

        self.ddit = DDiT(part("transformer."), json.loads(meta["transformer_config"]))
        self.t5 = T5(part("text_encoder."), json.loads(meta["text_encoder_config"]))
        self.vae = VAE(part("vae."), json.loads(meta["vae_config"]))
        self.mask_id = self.bench["mask_id"]
        self.opt = None

    # --- tasks -------------------------------------------------------------------------------------------
    def fwd(self, b):
        i = self.inputs
        v, l = self.ddit.forward(i["z16"][:b], i["tau16"][:b], i["enc16"][:b])
        return {"velocity": v, "logits": l}

    def t2i(self):
        i = self.inputs
        enc_pos = self.t5.encode(i["prompt_ids"])
        enc_neg = self.t5.encode(i["negative_ids"])
        g = self.bench["cfg"]
        sig = flow_sigmas(self.bench["t2i_steps"], 3.0)
        z = i["noise"].clone()
        enc2 = torch.cat([enc_neg, enc_pos], 0)
        for k in range(len(sig) - 1):
            tau = torch.full((2,), 1000.0 * sig[k])
            v2, _ = self.ddit.forward(torch.cat([z, z], 0), tau, enc2, image=True, text=False)
            vu, vc = v2.chunk(2, 0)
            z = z + (sig[k + 1] - sig[k]) * (vu + g * (vc - vu))
        return {"image": self.vae.decode(z)}

    def text(self, template_key, fixed_key, steps):
        i = self.inputs
        z0 = self.vae.encode_mean(i["image"])
        template = i[template_key].numpy().reshape(-1)
        fixed = i[fixed_key].numpy().reshape(-1).astype(bool)
        m = len(template)

        def probs(x):
            ids = torch.from_numpy(x.reshape(1, m).astype(np.int32))
            _, logits = self.ddit.forward(z0, torch.zeros(1), self.t5.encode(ids), image=False, text=True)
            return subs_probabilities(logits.reshape(m, -1).numpy(), x, self.mask_id)

        tokens, passes = sample_masked(template, fixed, self.mask_id, steps, Uniforms(i["uniforms"]), probs)
        self.passes = passes
        return {"tokens": torch.from_numpy(tokens.astype(np.int32))}

    def train_step(self):
        i = self.inputs
        d = self.ddit
        if self.opt is None:
            for t in d.params():
                t.requires_grad_(True)
            b = self.bench["adamw"]
            self.opt = torch.optim.AdamW(
                d.params(), lr=b["lr"], betas=(b["beta1"], b["beta2"]), eps=b["eps"], weight_decay=b["weight_decay"]
            )
        with torch.enable_grad():
            # image term (spec 2.2): z_s = (1-s) z0 + s eps; loss = mean((z_s - s v - z0)^2)
            z0 = i["train_z0"]
            s = i["train_sigmas"].reshape(-1, 1, 1, 1)
            zs = (1 - s) * z0 + s * i["train_noise"]
            v, _ = d.forward(zs, 1000 * i["train_sigmas"], i["train_enc"], image=True, text=False)
            l_img = ((zs - s * v - z0) ** 2).mean()
            # text term (spec 2.3): SUBS log-probs, -log p(x0) / t at masked positions, / (B M)
            with torch.no_grad():
                enc_t = self.t5.encode(i["train_xt"])
            _, logits = d.forward(i["train_z0t"], torch.zeros(z0.shape[0]), enc_t, image=False, text=True)
            xt = i["train_xt"].long()
            x0 = i["train_x0"].long()
            logits = logits.clone()
            logits[..., self.mask_id] -= 1e6
            logp = torch.log_softmax(logits, -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
            masked = (xt == self.mask_id).float()
            w = 1.0 / i["train_times"].reshape(-1, 1)
            l_txt = (-(logp * masked) * w).sum() / xt.numel()
            loss = l_img + self.bench["text_weight"] * l_txt
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(d.params(), self.bench["adamw"]["clip"])
        self.opt.step()
        return {"loss": loss.detach().reshape(1)}

    def run(self, task):
        if task == "fwd_b1":
            return self.fwd(1)
        if task == "fwd_b16":
            return self.fwd(16)
        if task == "t2i":
            return self.t2i()
        if task == "caption":
            return self.text("caption_template", "caption_fixed", self.bench["caption_steps"])
        if task == "vqa":
            return self.text("vqa_template", "vqa_fixed", self.bench["vqa_steps"])
        if task == "train":
            return self.train_step()
        raise ValueError("unknown task " + task)


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sgemm_ceiling():
    best = 0.0
    for n in (1024, 2048):
        a = torch.randn(n, n)
        b = torch.randn(n, n)
        torch.mm(a, b)
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, b)
            dt = time.perf_counter() - t0
            best = max(best, 2 * n ** 3 / dt / 1e9)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--setup")
    ap.add_argument("--task")
    ap.add_argument("--sgemm", action="store_true")
    a = ap.parse_args()
    if a.sgemm:
        print(json.dumps({"gflops": sgemm_ceiling(), "threads": torch.get_num_threads()}), flush=True)
        return
    peer = Peer(a.setup)
    last = None
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.strip().split(" ", 1)
        if cmd[0] == "run":
            # "run N": N runs back to back, timed together (figures per run)
            n = int(cmd[1]) if len(cmd) > 1 else 1
            c0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(n):
                last = peer.run(a.task)
            ms = (time.perf_counter() - t0) * 1000 / n
            cpu_ms = (time.process_time() - c0) * 1000 / n
            extra = {"passes": peer.passes} if a.task in ("caption", "vqa") else {}
            print(json.dumps({"ms": ms, "cpu_ms": cpu_ms, **extra}), flush=True)
        elif cmd[0] == "check":
            save_safetensors(cmd[1], {k: v for k, v in last.items() if v is not None})
            print(json.dumps({"saved": cmd[1]}), flush=True)
        elif cmd[0] == "mem":
            print(json.dumps({"peak_mb": peak_mb()}), flush=True)
        elif cmd[0] == "quit":
            break


if __name__ == "__main__":
    main()
