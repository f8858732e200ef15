/** Loading a resource for a screen: its data, its error, whether it is loading, and a way to load again. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';

export interface Resource<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
  reload(): void;
}

export function useResource<T>(load: () => Promise<T>, deps: unknown[], options: { pollMs?: number | ((data: T | undefined) => number | undefined) } = {}): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const mine = ++latest.current;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => {
        if (mine !== latest.current) return;
        setState({ data, loading: false });
        const poll = typeof options.pollMs === 'function' ? options.pollMs(data) : options.pollMs;
        if (poll) timer = setTimeout(() => setTick((t) => t + 1), poll);
      },
      (error: unknown) => {
        if (mine !== latest.current) return;
        setState((s) => ({ data: s.data, error: error instanceof ApiError ? error : new ApiError(0, 'Unexpected error', String(error)), loading: false }));
      },
    );
    return () => clearTimeout(timer);
  }, [...deps, tick]);
  return { ...state, reload };
}

/** A button's action: runs once at a time, keeps its error and result for the screen to show. */
export function useAction<A extends unknown[], R>(run: (...args: A) => Promise<R>): { busy: boolean; error?: ApiError; result?: R; act(...args: A): Promise<R | undefined>; clear(): void } {
  const [state, setState] = useState<{ busy: boolean; error?: ApiError; result?: R }>({ busy: false });
  const act = async (...args: A) => {
    setState({ busy: true });
    try {
      const result = await run(...args);
      setState({ busy: false, result });
      return result;
    } catch (e) {
      setState({ busy: false, error: e instanceof ApiError ? e : new ApiError(0, 'Unexpected error', String(e)) });
      return undefined;
    }
  };
  return { ...state, act, clear: () => setState({ busy: false }) };
}
