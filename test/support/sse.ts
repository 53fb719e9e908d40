/** A client of local mode's `GET /_local/events` (Server-Sent Events), parsing messages as an EventSource does. */

export interface SseMessage {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

export interface SseSubscription {
  response: Response;
  /** Every message so far, in arrival order. */
  messages: SseMessage[];
  /** Resolves once `done(messages)` holds; rejects after `timeoutMs`. */
  until(done: (messages: SseMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function subscribeEvents(
  url: string,
  headers: Record<string, string> = {},
): Promise<SseSubscription> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal, headers });
  const messages: SseMessage[] = [];
  const waiters = new Set<() => void>();
  const reading = (async () => {
    if (!response.ok || !response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const lines = buffer
            .slice(0, end)
            .split('\n')
            .filter((line) => !line.startsWith(':'));
          buffer = buffer.slice(end + 2);
          const field = (name: string) =>
            lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
          if (lines.length > 0)
            messages.push({ id: field('id'), event: field('event'), data: field('data') ?? '' });
        }
        for (const wake of waiters) wake();
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  return {
    response,
    messages,
    async until(done, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(messages)) {
        if (Date.now() > deadline)
          throw new Error(`the awaited events did not arrive within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.add(resolve);
          setTimeout(() => {
            waiters.delete(resolve);
            resolve();
          }, 200);
        });
      }
    },
    async close() {
      controller.abort();
      await reading.catch(() => undefined);
    },
  };
}
