/** The API link's state, as reactive state for the status bar. */
import type { ApiClient, ConnectionState, HostKind } from '../api.js';

export class ConnectionStore {
  state = $state.raw<ConnectionState>({ status: 'connecting', attempt: 0, retryAt: null, detail: null, opens: 0 });
  readonly host: HostKind;

  #api: ApiClient;

  constructor(api: ApiClient) {
    this.#api = api;
    this.host = api.host;
    this.state = api.connection;
  }

  reconnectNow(): void {
    this.#api.reconnectNow();
  }
}
