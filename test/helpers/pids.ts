/** True while process `pid` exists (EPERM: it exists but is not ours). How the helpers tell a dead test process's leftovers. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
