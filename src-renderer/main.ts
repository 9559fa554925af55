/** Renderer entry: one API client, one root state, one App. */
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { getApi } from './lib/api.js';
import { appContext } from './lib/context.js';
import { AppState } from './lib/state/app.svelte.js';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

const app = new AppState(getApi());
mount(App, { target, context: appContext(app) });
