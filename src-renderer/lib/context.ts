/**
 * Context keys for the renderer. main.ts passes the map from `appContext` to
 * `mount`; components read it with `useApp()` / `useApi()`.
 */
import { getContext, hasContext } from 'svelte';
import type { ApiClient } from './api.js';
import type { AppState } from './state/app.svelte.js';

const APP_KEY = Symbol('studio.app');
const API_KEY = Symbol('studio.api');

/** The context map for `mount(App, { context })`. */
export function appContext(app: AppState): Map<symbol, unknown> {
  return new Map<symbol, unknown>([
    [APP_KEY, app],
    [API_KEY, app.api],
  ]);
}

export function useApp(): AppState {
  if (!hasContext(APP_KEY)) throw new Error('useApp() outside the app: mount App with appContext(app)');
  return getContext<AppState>(APP_KEY);
}

export function useApi(): ApiClient {
  if (!hasContext(API_KEY)) throw new Error('useApi() outside the app: mount App with appContext(app)');
  return getContext<ApiClient>(API_KEY);
}
