/**
 * An async read-write lock: many `shared` holders at once, or one `exclusive` holder. Granted in
 * arrival order, so a waiting writer holds back readers that arrive after it and cannot starve.
 * The PKCS#11 backend signs under `shared` and re-initialises the module under `exclusive`.
 */
export class ReadWriteLock {
  #readers = 0;
  #writer = false;
  readonly #queue: { readonly exclusive: boolean; readonly grant: () => void }[] = [];

  /** Runs `work` while holding the lock shared with other `shared` holders. */
  async shared<T>(work: () => Promise<T> | T): Promise<T> {
    await this.#acquire(false);
    try {
      return await work();
    } finally {
      this.#readers -= 1;
      this.#drain();
    }
  }

  /** Runs `work` while no one else holds the lock. */
  async exclusive<T>(work: () => Promise<T> | T): Promise<T> {
    await this.#acquire(true);
    try {
      return await work();
    } finally {
      this.#writer = false;
      this.#drain();
    }
  }

  #acquire(exclusive: boolean): Promise<void> {
    return new Promise((resolve) => {
      this.#queue.push({ exclusive, grant: resolve });
      this.#drain();
    });
  }

  #drain(): void {
    for (let next = this.#queue[0]; next !== undefined; next = this.#queue[0]) {
      if (this.#writer) return;
      if (next.exclusive) {
        if (this.#readers > 0) return;
        this.#writer = true;
      } else {
        this.#readers += 1;
      }
      this.#queue.shift();
      next.grant();
    }
  }
}
