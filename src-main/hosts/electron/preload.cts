/**
 * The Electron preload, built as CommonJS and run sandboxed: it can only
 * require 'electron'. It exposes one function per API method (the names come
 * from the main process through additionalArguments, so this file needs no
 * other module) and one event subscription — never ipcRenderer itself.
 * `window.studioFiles.pathForFile` gives a dropped File's path on disk
 * (Electron's webUtils; a sandboxed page cannot read File.path any more).
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';

const CALL_PREFIX = 'studio:call:';
const EVENT_CHANNEL = 'studio:event';
const METHODS_ARG = '--studio-methods=';

const names = (process.argv.find((a) => a.startsWith(METHODS_ARG)) ?? METHODS_ARG).slice(METHODS_ARG.length).split(',').filter(Boolean);

const methods: Record<string, (input: unknown) => Promise<unknown>> = {};
for (const name of names) {
  methods[name] = (input: unknown) => ipcRenderer.invoke(CALL_PREFIX + name, input);
}

contextBridge.exposeInMainWorld('studio', {
  host: 'electron',
  methods,
  onEvent(listener: (event: string, payload: unknown) => void): () => void {
    const forward = (_e: IpcRendererEvent, message: { event: string; payload: unknown }) => listener(message.event, message.payload);
    ipcRenderer.on(EVENT_CHANNEL, forward);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, forward);
    };
  },
});

contextBridge.exposeInMainWorld('studioFiles', {
  pathForFile(file: File): string {
    return webUtils.getPathForFile(file);
  },
});
