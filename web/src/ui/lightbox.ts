/** Enlarged view of a node's images (with download) or its full text (with copy). */
import { openDialog } from './dialog';
import { h } from './dom';

export function openImages(images: { src: string; name: string; download?: string }[], start = 0): void {
  if (!images.length) return;
  let i = Math.max(0, Math.min(start, images.length - 1));
  const d = openDialog('Image', { id: 'lightbox', wide: true });
  const img = h('img', { class: 'lightbox-img', alt: '' });
  const caption = h('span', { class: 'lightbox-caption' });
  const download = h('a', { class: 'button small', 'data-action': 'download' }, 'Download');
  const show = () => {
    const cur = images[i];
    img.src = cur.src;
    img.alt = cur.name;
    caption.textContent = images.length > 1 ? `${cur.name} (${i + 1}/${images.length})` : cur.name;
    download.setAttribute('href', cur.download ?? cur.src);
    download.setAttribute('download', cur.name);
  };
  d.body.append(img);
  if (images.length > 1) {
    const prev = h('button', { class: 'small' }, '‹');
    const next = h('button', { class: 'small' }, '›');
    prev.addEventListener('click', () => {
      i = (i - 1 + images.length) % images.length;
      show();
    });
    next.addEventListener('click', () => {
      i = (i + 1) % images.length;
      show();
    });
    d.footer.append(prev, next);
  }
  d.footer.append(caption, download);
  show();
}

export function openText(title: string, text: string): void {
  const d = openDialog(title, { id: 'text-view', wide: true });
  d.body.append(h('pre', { class: 'text-view' }, text));
  const copy = h('button', { class: 'small' }, 'Copy');
  copy.addEventListener('click', () => {
    void navigator.clipboard?.writeText(text);
    copy.textContent = 'Copied';
  });
  d.footer.append(copy);
}
