/**
 * JupyterLab plugin: puts the tracker panel in the right sidebar, wires it to the
 * server API, the settings editor, the notebooks (go to cell, refresh after a cell
 * runs) and the command palette.
 */

import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import type { PartialJSONValue } from '@lumino/coreutils';

import { TrackerAPI } from './api';
import type { PanelSettings } from './context';
import { TrackerPanel, type PanelHost } from './panel';
import { TrackerState, type ColumnSpec } from './state';

const PLUGIN_ID = 'jupyterlab-tracker:plugin';

namespace CommandIDs {
  export const open = 'tracker:open';
  export const openMain = 'tracker:open-main';
  export const refresh = 'tracker:refresh';
  export const searches = 'tracker:open-searches';
  export const models = 'tracker:open-models';
}

// A static icon (no user data): three bars of a chart under a trend line.
const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><rect x="3" y="13" width="4" height="8" rx="1"/>' +
  '<rect x="10" y="9" width="4" height="12" rx="1"/><rect x="17" y="5" width="4" height="16" rx="1"/></g>' +
  '<path class="jp-icon-accent0" d="M3 9 L10 5 L15 7 L21 2" fill="none" stroke="#616161" stroke-width="1.6"/></svg>';

export const trackerIcon = new LabIcon({ name: 'jupyterlab-tracker:icon', svgstr: ICON_SVG });

function readSettings(s: ISettingRegistry.ISettings): Partial<PanelSettings> {
  return s.composite as unknown as Partial<PanelSettings>;
}

/** Find (or open) the notebook and scroll it to the cell with this id. */
async function goToCell(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker | null,
  docManager: IDocumentManager | null,
  path: string | null,
  cellId: string
): Promise<boolean> {
  const has = (p: NotebookPanel) => p.content.widgets.some(c => c.model.id === cellId);
  const matches = (p: NotebookPanel) => !path || p.context.path === path || p.context.path.endsWith(`/${path}`) || path.endsWith(`/${p.context.path}`);
  let target: NotebookPanel | null = null;
  notebooks?.forEach(p => {
    if (!target && matches(p) && has(p)) {
      target = p;
    }
  });
  notebooks?.forEach(p => {
    if (!target && has(p)) {
      target = p;
    }
  });
  if (!target && path && docManager) {
    const widget = docManager.openOrReveal(path);
    if (widget instanceof NotebookPanel) {
      await widget.context.ready;
      await widget.revealed;
      target = has(widget) ? widget : null;
    }
  }
  if (!target) {
    return false;
  }
  const panel: NotebookPanel = target;
  const nb = panel.content;
  const index = nb.widgets.findIndex(c => c.model.id === cellId);
  if (index < 0) {
    return false;
  }
  app.shell.activateById(panel.id);
  nb.activeCellIndex = index;
  nb.mode = 'command';
  await nb.scrollToCell(nb.widgets[index], 'center');
  nb.activeCell?.node.classList.add('jp-tracker-flash');
  window.setTimeout(() => nb.widgets[index]?.node.classList.remove('jp-tracker-flash'), 1500);
  return true;
}

function download(filename: string, text: string | Blob, mime: string): void {
  const url = URL.createObjectURL(typeof text === 'string' ? new Blob([text], { type: mime }) : text);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Runs, cell lineage, searches and model cards of jupyterlab-tracker, beside the notebook.',
  autoStart: true,
  optional: [ILayoutRestorer, ISettingRegistry, INotebookTracker, IDocumentManager, ICommandPalette, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null,
    notebooks: INotebookTracker | null,
    docManager: IDocumentManager | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ) => {
    const serverSettings = app.serviceManager.serverSettings;
    const api = new TrackerAPI(
      (path, init) => ServerConnection.makeRequest(URLExt.join(serverSettings.baseUrl, path), init, serverSettings),
      serverSettings.baseUrl
    );
    // One state for the sidebar and the main-area tab: a selection shows in both.
    const state = new TrackerState();
    let current: Partial<PanelSettings> = {};
    const host: PanelHost = {
      goToCell: (nb, cell) => goToCell(app, notebooks, docManager, nb, cell),
      download,
      openMain: () => void app.commands.execute(CommandIDs.openMain)
    };
    const panel = new TrackerPanel(api, host, {}, state, 'sidebar');
    panel.title.icon = trackerIcon;
    app.shell.add(panel, 'right', { rank: 600 });
    restorer?.add(panel, 'jupyterlab-tracker');

    const mains = new WidgetTracker<MainAreaWidget<TrackerPanel>>({ namespace: 'jupyterlab-tracker-main' });
    const openMain = (): MainAreaWidget<TrackerPanel> => {
      const existing = mains.currentWidget ?? mains.find(() => true);
      if (existing && !existing.isDisposed) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const content = new TrackerPanel(api, { ...host, openMain: undefined }, current, state, 'main');
      const widget = new MainAreaWidget({ content });
      widget.id = `jp-tracker-main-area`;
      widget.title.label = 'Tracker';
      widget.title.icon = trackerIcon;
      widget.title.closable = true;
      widget.addClass('jp-tracker-main-area');
      app.shell.add(widget, 'main', { mode: 'split-right' });
      void mains.add(widget);
      app.shell.activateById(widget.id);
      return widget;
    };

    if (registry) {
      void registry.load(PLUGIN_ID).then(
        s => {
          const apply = () => {
            current = readSettings(s);
            panel.configure(current);
            mains.forEach(w => w.content.configure(current));
            const saved = current.columns ?? [];
            if (saved.length && JSON.stringify(saved) !== JSON.stringify(state.columns)) {
              state.setColumns(saved, true);
            }
          };
          apply();
          s.changed.connect(apply);
          // A person's column choice, order and widths persist in the settings registry.
          let timer = 0;
          state.columnsChanged.connect((_, change) => {
            if (!change.byUser) {
              return;
            }
            window.clearTimeout(timer);
            timer = window.setTimeout(() => {
              const cols: ColumnSpec[] = state.columns.map(c => (c.width ? { key: c.key, width: c.width } : { key: c.key }));
              if (JSON.stringify(cols) !== JSON.stringify(s.composite.columns ?? [])) {
                void s.set('columns', cols as unknown as PartialJSONValue).catch(err => console.warn('jupyterlab-tracker: columns not saved', err));
              }
            }, 400);
          });
        },
        err => console.warn('jupyterlab-tracker: settings not loaded', err)
      );
    }

    NotebookActions.executed.connect(() => {
      if (panel.ctx.settings.refreshOnCellExecuted) {
        panel.cellExecuted();
        mains.forEach(w => w.content.cellExecuted());
      }
    });

    if (restorer) {
      void restorer.restore(mains, { command: CommandIDs.openMain, name: () => 'tracker-main' });
    }
    app.commands.addCommand(CommandIDs.openMain, {
      label: 'Open Tracker',
      caption: 'Open the tracker in a main-area tab beside the notebook (runs table with columns, compare curves)',
      icon: args => (args.isLauncher ? trackerIcon : undefined),
      execute: () => {
        openMain();
      }
    });
    launcher?.add({ command: CommandIDs.openMain, category: 'Other', rank: 5 });

    app.commands.addCommand(CommandIDs.open, {
      label: 'Tracker: Show Runs',
      caption: 'Open the tracker side panel',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.showTab('runs');
      }
    });
    app.commands.addCommand(CommandIDs.searches, {
      label: 'Tracker: Show Searches',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.showTab('searches');
      }
    });
    app.commands.addCommand(CommandIDs.models, {
      label: 'Tracker: Show Models',
      caption: 'Registered models: versions, aliases, promotion history and cards',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.showTab('models');
      }
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Tracker: Refresh',
      execute: () => {
        void panel.refreshNow();
        mains.forEach(w => void w.content.refreshNow());
      }
    });
    for (const command of [CommandIDs.openMain, CommandIDs.open, CommandIDs.searches, CommandIDs.models, CommandIDs.refresh]) {
      palette?.addItem({ command, category: 'Tracker' });
    }
  }
};

export default plugin;
