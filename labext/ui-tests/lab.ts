/** Start and stop a JupyterLab server for the browser tests and the render benchmark. */

import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export interface LabServer {
  url: string;
  token: string;
  root: string;
  store: string;
  pid: number;
}

export const REPO = path.resolve(__dirname, '..', '..');

export function python(): string {
  return process.env.TRACKER_PYTHON ?? path.join(REPO, '.venv', 'bin', 'python');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** JupyterLab settings that keep the UI quiet and predictable in tests. */
function writeSettings(dir: string): void {
  const write = (plugin: string, file: string, value: unknown) => {
    fs.mkdirSync(path.join(dir, plugin), { recursive: true });
    fs.writeFileSync(path.join(dir, plugin, file), JSON.stringify(value));
  };
  write('@jupyterlab/apputils-extension', 'notification.jupyterlab-settings', { fetchNews: 'false', checkForUpdates: false });
  write('jupyterlab-tracker', 'plugin.jupyterlab-settings', { refreshInterval: 1000 });
}

/**
 * A data directory whose `labextensions/jupyterlab-tracker` is this checkout's build, put
 * first on `JUPYTER_PATH`: the tests drive the panel built from the sources beside them,
 * whatever another checkout linked into the virtualenv (`jupyter labextension develop`).
 */
function labextensionPath(jp: string): string | undefined {
  const built = path.join(REPO, 'tracker', 'labextension');
  if (!fs.existsSync(path.join(built, 'package.json'))) {
    return undefined;
  }
  const dir = path.join(jp, 'data', 'labextensions');
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(built, path.join(dir, 'jupyterlab-tracker'), 'dir');
  return path.join(jp, 'data');
}

export async function startLab(root: string, storeUrl: string, timeoutMs = 120_000): Promise<LabServer> {
  const port = await freePort();
  const token = Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  const jp = path.join(root, '.jupyter');
  writeSettings(path.join(jp, 'lab-settings'));
  const data = labextensionPath(jp);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JUPYTER'))),
    TRACKER_STORE: storeUrl,
    TRACKER_SPOOL_DIR: path.join(root, '.spool'),
    JUPYTER_CONFIG_DIR: path.join(jp, 'config'),
    JUPYTER_RUNTIME_DIR: path.join(jp, 'runtime'),
    JUPYTERLAB_SETTINGS_DIR: path.join(jp, 'lab-settings'),
    JUPYTERLAB_WORKSPACES_DIR: path.join(jp, 'workspaces'),
    ...(data ? { JUPYTER_PATH: data } : {}),
    PYTHONPATH: [path.join(root), process.env.PYTHONPATH ?? ''].filter(Boolean).join(path.delimiter)
  };
  const log = fs.openSync(path.join(root, 'lab.log'), 'w');
  const proc: ChildProcess = spawn(
    python(),
    [
      '-m',
      'jupyter',
      'lab',
      '--no-browser',
      `--port=${port}`,
      '--ip=127.0.0.1',
      '--ServerApp.port_retries=0',
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${root}`,
      '--ServerApp.allow_root=True',
      '--LabApp.expose_app_in_browser=True',
      '--LabServerApp.open_browser=False'
    ],
    { env, stdio: ['ignore', log, log], detached: false }
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      throw new Error(`jupyter lab exited: ${fs.readFileSync(path.join(root, 'lab.log'), 'utf8').slice(-3000)}`);
    }
    try {
      const r = await fetch(`${url}/tracker/api/v1/store`, { headers: { Authorization: `token ${token}` } });
      if (r.ok) {
        return { url, token, root, store: storeUrl, pid: proc.pid as number };
      }
    } catch {
      // not up yet
    }
    await new Promise(r => setTimeout(r, 300));
  }
  proc.kill();
  throw new Error(`jupyter lab did not start in ${timeoutMs} ms`);
}

export function stopLab(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

export function tempRoot(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
