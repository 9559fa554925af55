/**
 * The Electron host's security decisions as pure functions (no electron
 * import, so they are unit-tested under Node): which URLs are the app's own
 * renderer (navigation, IPC senders) and which links may open in the user's
 * browser.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * True if `url` is a file inside `rendererDir` (the folder itself excluded).
 * Compared as paths with path.relative, so a sibling such as
 * `renderer-evil/` (which a string prefix without a trailing separator lets
 * through) and `..` segments are refused.
 */
export function isRendererUrl(url: string, rendererDir: string): boolean {
  let file: string;
  try {
    const u = new URL(url);
    if (u.protocol !== 'file:' || (u.host !== '' && u.host !== 'localhost')) return false;
    file = fileURLToPath(u);
  } catch {
    return false;
  }
  const rel = path.relative(path.resolve(rendererDir), path.resolve(file));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Where links may go outside the app: the runtimes' and converters'
 * documentation (the renderer has no other links today; the project has no
 * public home page to list yet). Each entry is an https origin plus a path
 * prefix ending in '/'.
 */
export const EXTERNAL_LINK_ALLOW_LIST: readonly string[] = [
  'https://ai.google.dev/edge/litert/',
  'https://www.tensorflow.org/lite/',
  'https://www.tensorflow.org/model_optimization/',
  'https://onnxruntime.ai/docs/',
  'https://onnx.ai/onnx/',
];

/** True if `url` is https, has no credentials or odd port, and starts with an allow-listed prefix (after URL parsing). */
export function isAllowedExternalLink(url: string, allow: readonly string[] = EXTERNAL_LINK_ALLOW_LIST): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' || u.username || u.password || u.port) return false;
  const normalized = u.href;
  return allow.some((prefix) => {
    const p = new URL(prefix);
    return u.host === p.host && normalized.startsWith(p.href);
  });
}

/**
 * An IPC call is served only when its sender frame is the app's renderer:
 * a frame (main or sub-frame) whose URL is a file of the renderer folder.
 * A missing frame (destroyed) is refused.
 */
export function isAllowedIpcSender(frameUrl: string | null | undefined, rendererDir: string): boolean {
  return typeof frameUrl === 'string' && isRendererUrl(frameUrl, rendererDir);
}
