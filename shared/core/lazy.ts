/** Build a value once per container, on first use, so importing a module needs no environment. */
export function once<T>(create: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= create();
    return value;
  };
}
