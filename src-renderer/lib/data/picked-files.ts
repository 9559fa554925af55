/**
 * Files chosen with <input type=file> (several files, or a folder with
 * webkitdirectory). The web host's upload stores one batch as one flat folder
 * (hosts/web/upload.ts), which holds a TF.js model.json beside its shards or
 * a dataset's files; a folder with subfolders (an image folder per class)
 * cannot be rebuilt there yet, so it is refused with the reason, and hidden
 * files (.DS_Store) are left out.
 */
export interface PickedFile {
  name: string;
  /** "folder/sub/file.png" for a folder pick, "" for a file pick. */
  webkitRelativePath: string;
}

export function filesToUpload<F extends PickedFile>(files: readonly F[]): { files: F[] } | { error: string } {
  const kept = files.filter((f) => !f.name.startsWith('.'));
  if (kept.length === 0) return { error: 'No file chosen (a folder holding only hidden files is empty here).' };
  const nested = kept.find((f) => f.webkitRelativePath.split('/').length > 2);
  if (nested) {
    return {
      error: `${nested.webkitRelativePath}: the chosen folder has subfolders, which the browser upload cannot keep yet. Choose a folder whose files sit directly in it (model.json with its shards, IDX or CIFAR files), or import the folder by path on the host (studio serve --import-dir).`,
    };
  }
  return { files: kept };
}
