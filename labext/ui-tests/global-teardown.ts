import * as fs from 'fs';
import * as path from 'path';

import { stopLab } from './lab';

const STATE = path.join(__dirname, '.state.json');

export default async function globalTeardown(): Promise<void> {
  if (!fs.existsSync(STATE)) {
    return;
  }
  const lab = JSON.parse(fs.readFileSync(STATE, 'utf8')) as { pid: number; root: string };
  stopLab(lab.pid);
  fs.rmSync(STATE);
  await new Promise(r => setTimeout(r, 500));
  fs.rmSync(lab.root, { recursive: true, force: true });
}
