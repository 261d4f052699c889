/**
 * The interruption-notice watcher: one small program per spot deployment, under anycloud's
 * supervisord next to the upload programs. It polls the cloud's notice endpoint (the URL comes
 * from its rendered config, never from the program), and on a notice it stops the workload
 * gracefully (supervisord's SIGTERM, then the grace period) and runs one final upload of the
 * checkpoint and output mounts. What a preemption loses is then the work since the notice.
 *
 * The handling is written once; each cloud is one small adapter in the program:
 * - `aws`: IMDSv2 (a session token PUT first), `spot/instance-action` is 404 until EC2 schedules
 *   the stop, then JSON `{action, time}` (about two minutes ahead).
 * - `gcp`: `instance/preempted` answers `FALSE` until the instance is preempted, then `TRUE`
 *   (about thirty seconds ahead); needs `Metadata-Flavor: Google`.
 * - `azure`: Scheduled Events lists a `Preempt` event (at least thirty seconds ahead); needs
 *   `Metadata: true`; the event is acknowledged (StartRequests) once the flush is done.
 *
 * The program is Python 3: supervisord is a Python program, so every machine that runs it has one.
 */

/** Clouds whose spot machines get an interruption notice. */
export type NoticeCloud = 'aws' | 'gcp' | 'azure'

/** What a provider asks for: which cloud, and where its notice endpoint is. */
export interface NoticeSpec {
  cloud: NoticeCloud
  /** The notice URL polled on the machine (the cloud's metadata service on a real VM). */
  url: string
  /** AWS IMDSv2: where the session token is requested (PUT). */
  tokenUrl?: string
  /** Azure: the VM's name, to ignore events of other VMs in its availability set. */
  resourceName?: string
  /** Seconds between polls. */
  pollSeconds: number
  /** Seconds the workload has after SIGTERM before supervisord kills it (then the final upload). */
  graceSeconds: number
}

/** The config file the program reads (rendered by {@link noticeConfig}). */
export interface NoticeConfig extends NoticeSpec {
  /** Command that stops the workload (supervisorctl stop: SIGTERM, then KILL after the grace). */
  stop: string[]
  /** Command of the final upload (`sync.sh all`). */
  flush: string[]
  /** Written (JSON) when a notice is seen, before the workload is stopped. */
  marker: string
  /** Written (a timestamp and the upload's exit code) once the final upload ran. */
  flushed: string
}

/** Per cloud: the metadata service's base, the notice path, and how long the workload may take to stop. */
const CLOUDS: Record<NoticeCloud, {base: string; path: string; token?: string; graceSeconds: number}> = {
  // Two minutes of notice: 90 s for the workload, the rest for the upload.
  aws: {base: 'http://169.254.169.254', path: '/latest/meta-data/spot/instance-action', token: '/latest/api/token', graceSeconds: 90},
  // Thirty seconds of notice.
  gcp: {base: 'http://metadata.google.internal', path: '/computeMetadata/v1/instance/preempted', graceSeconds: 15},
  // At least thirty seconds (NotBefore).
  azure: {base: 'http://169.254.169.254', path: '/metadata/scheduledevents?api-version=2020-07-01', graceSeconds: 15},
}

/**
 * The notice spec of a spot machine on `cloud`: the hook every provider with spot calls when it
 * builds its BootstrapSpec. `ANYCLOUD_NOTICE_BASE` replaces the metadata service's scheme and host
 * (tests point it at a notice endpoint of their own; nothing else should set it);
 * `ANYCLOUD_NOTICE_POLL` sets the poll period in seconds (default 5).
 */
export function noticeFor(cloud: NoticeCloud, env: NodeJS.ProcessEnv, options: {resourceName?: string} = {}): NoticeSpec {
  const c = CLOUDS[cloud]
  const base = (env.ANYCLOUD_NOTICE_BASE ?? c.base).replace(/\/+$/, '')
  const poll = Number(env.ANYCLOUD_NOTICE_POLL ?? '')
  return {
    cloud,
    url: base + c.path,
    ...(c.token ? {tokenUrl: base + c.token} : {}),
    ...(options.resourceName ? {resourceName: options.resourceName} : {}),
    pollSeconds: Number.isFinite(poll) && poll > 0 ? poll : 5,
    graceSeconds: c.graceSeconds,
  }
}

/** The program's config: the spec plus the commands and files of one deployment. */
export function noticeConfig(spec: NoticeSpec, paths: {supervisordConf: string; workloadProgram: string; syncScript: string; lib: string}): NoticeConfig {
  return {
    ...spec,
    stop: ['supervisorctl', '-c', paths.supervisordConf, 'stop', paths.workloadProgram],
    flush: [paths.syncScript, 'all'],
    marker: `${paths.lib}/preempted`,
    flushed: `${paths.lib}/preempted-flushed`,
  }
}

/**
 * The program. `notice-watch.py CONFIG [--exit]`: polls until a notice, handles it once, then
 * idles while the machine goes (with `--exit`, it exits instead: tests). A poll that fails is
 * retried (the metadata service can be briefly unavailable at boot); errors are logged, not fatal.
 */
export const NOTICE_PROGRAM = String.raw`#!/usr/bin/env python3
# anycloud: watches the cloud's interruption notice for one spot deployment. Written by anycloud.
import json, os, subprocess, sys, time, urllib.error, urllib.request

def log(message):
    print(time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()) + ' ' + message, flush=True)

# The metadata service is reached directly, never through a proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def http(method, url, headers, body=None, timeout=3):
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read().decode('utf-8', 'replace')
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode('utf-8', 'replace')

class Aws:
    """EC2 spot: IMDSv2 token, then spot/instance-action (404 until a stop is scheduled)."""
    def __init__(self, config):
        self.config = config
        self.token = None
    def poll(self):
        if self.token is None:
            status, body = http('PUT', self.config['tokenUrl'], {'X-aws-ec2-metadata-token-ttl-seconds': '21600'})
            if status != 200:
                raise RuntimeError('IMDSv2 token: HTTP %d' % status)
            self.token = body.strip()
        status, body = http('GET', self.config['url'], {'X-aws-ec2-metadata-token': self.token})
        if status == 401:
            self.token = None
            return None
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError('instance-action: HTTP %d' % status)
        action = json.loads(body)
        return {'event': 'instance-action', 'action': action.get('action'), 'time': action.get('time')}
    def acknowledge(self):
        pass

class Gcp:
    """GCE spot/preemptible: instance/preempted is FALSE until the instance is preempted."""
    def __init__(self, config):
        self.config = config
    def poll(self):
        status, body = http('GET', self.config['url'], {'Metadata-Flavor': 'Google'})
        if status != 200:
            raise RuntimeError('preempted: HTTP %d' % status)
        return {'event': 'preempted'} if body.strip().upper() == 'TRUE' else None
    def acknowledge(self):
        pass

class Azure:
    """Azure spot: a Scheduled Events Preempt event for this VM; acknowledged after the flush."""
    def __init__(self, config):
        self.config = config
        self.event = None
    def poll(self):
        status, body = http('GET', self.config['url'], {'Metadata': 'true'})
        if status != 200:
            raise RuntimeError('scheduledevents: HTTP %d' % status)
        for event in json.loads(body).get('Events') or []:
            if event.get('EventType') != 'Preempt':
                continue
            name = self.config.get('resourceName')
            if name and name not in (event.get('Resources') or []):
                continue
            self.event = event.get('EventId')
            return {'event': 'Preempt', 'id': self.event, 'notBefore': event.get('NotBefore')}
        return None
    def acknowledge(self):
        if self.event:
            body = json.dumps({'StartRequests': [{'EventId': self.event}]}).encode()
            status, _ = http('POST', self.config['url'], {'Metadata': 'true', 'Content-Type': 'application/json'}, body)
            log('acknowledged event %s: HTTP %d' % (self.event, status))

ADAPTERS = {'aws': Aws, 'gcp': Gcp, 'azure': Azure}

def write_atomic(path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)

def main():
    config = json.load(open(sys.argv[1]))
    adapter = ADAPTERS[config['cloud']](config)
    failures = 0
    log('watching %s for a %s interruption notice every %ss' % (config['url'], config['cloud'], config['pollSeconds']))
    while True:
        try:
            notice = adapter.poll()
            failures = 0
        except Exception as e:
            notice = None
            failures += 1
            if failures == 1 or failures % 60 == 0:
                log('notice poll failed (%d in a row): %s' % (failures, e))
        if notice:
            break
        time.sleep(config['pollSeconds'])
    notice['noticedAt'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    notice['cloud'] = config['cloud']
    log('interruption notice: %s' % json.dumps(notice, sort_keys=True))
    write_atomic(config['marker'], json.dumps(notice, sort_keys=True) + '\n')
    log('stopping the workload (SIGTERM, %ss to finish)' % config['graceSeconds'])
    stopped = subprocess.call(config['stop'], stdin=subprocess.DEVNULL)
    log('workload stopped (exit %d); final upload of checkpoint and output' % stopped)
    flushed = subprocess.call(config['flush'], stdin=subprocess.DEVNULL)
    write_atomic(config['flushed'], '%s %d\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), flushed))
    log('final upload %s' % ('done' if flushed == 0 else 'failed (exit %d)' % flushed))
    adapter.acknowledge()
    if '--exit' in sys.argv[2:]:
        return 0 if flushed == 0 else 1
    while True:
        time.sleep(3600)

if __name__ == '__main__':
    sys.exit(main())
`
