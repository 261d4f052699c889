/**
 * Process-level guards for storage rig tests: temporary environment variables, and a
 * net-connect guard that refuses every in-process HTTP connection except to loopback.
 */
import nock from 'nock';

/** Sets `vars` on `apply()` and puts the previous values back on `restore()`. */
export function withEnv(vars: Record<string, string | undefined>): {apply(): void; restore(): void} {
  const saved = new Map<string, string | undefined>();
  return {
    apply() {
      for (const [k, v] of Object.entries(vars)) {
        if (!saved.has(k)) saved.set(k, process.env[k]);
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
    restore() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      saved.clear();
    },
  };
}

/**
 * Refuses in-process HTTP(S) connections to anything but 127.0.0.1/localhost (in
 * particular the cloud metadata address 169.254.169.254 and Google's token servers) until
 * the returned function is called. Child processes such as rclone are not covered.
 */
export function loopbackOnly(): () => void {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host));
  return () => nock.enableNetConnect();
}
