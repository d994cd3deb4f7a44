/**
 * Watches the device-plugin directory for the files we care about (kubelet.sock, our socket) and calls
 * `onChange`. fs.watch is a hint, not a guarantee (inotify limits, a directory replaced under us, an
 * overlay filesystem that reports nothing): the owner also checks on a timer, and calls `ensure()` on
 * every check so a watch that failed or whose directory was replaced is set up again.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { fileIdentity, type FileIdentity } from './socket-file.js';

export class DirWatcher {
  private watcher: FSWatcher | undefined;
  private watchedDir: FileIdentity | undefined;
  private closed = false;
  private warned = false;

  constructor(
    private readonly dir: string,
    /** Names in `dir` whose creation or removal matters; others are ignored. */
    private readonly names: ReadonlySet<string>,
    private readonly onChange: () => void,
    private readonly logger: Logger,
  ) {}

  /** Starts watching, or watches again when the directory changed or the watch failed. Never throws. */
  async ensure(): Promise<void> {
    if (this.closed) return;
    const id = await fileIdentity(this.dir);
    if (this.watcher && id === this.watchedDir) return;
    this.stopWatching();
    if (id === undefined || this.closed) return;
    try {
      const w = watch(this.dir, { persistent: false }, (_event, filename) => {
        if (filename === null || this.names.has(filename.toString())) this.onChange();
      });
      w.on('error', (err) => {
        this.logger.warn({ err, dir: this.dir }, 'watching the device-plugin directory failed; falling back to periodic checks');
        if (this.watcher === w) this.stopWatching();
      });
      this.watcher = w;
      this.watchedDir = id;
      this.warned = false;
    } catch (err) {
      if (!this.warned) this.logger.warn({ err, dir: this.dir }, 'cannot watch the device-plugin directory; relying on periodic checks');
      this.warned = true;
    }
  }

  get watching(): boolean {
    return this.watcher !== undefined;
  }

  close(): void {
    this.closed = true;
    this.stopWatching();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedDir = undefined;
  }
}
