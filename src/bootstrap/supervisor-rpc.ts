import {shellQuote as q} from '../remote/shell.js'

/**
 * supervisorctl's `status`, `stop`, `pid` and `shutdown`, sent to supervisord's XML-RPC interface on
 * its unix socket by Python's standard library alone. supervisorctl itself starts by importing
 * pkg_resources, which scans every installed Python package: about 0.25 s of CPU per call, and a
 * plan, an apply, a status or a stop makes several. These make the same calls in about a quarter
 * of that, with the system's /usr/bin/python3 where there is one (a python3 earlier on PATH may be a
 * slower wrapper). Where that cannot talk to supervisord (no python3, no answer, an unexpected one),
 * supervisorctl runs instead with the same arguments: the result is the same either way.
 *
 * - `status NAMESPEC…` (`group:*` or `group:program`): `group:program STATE` lines, as the first two
 *   columns of supervisorctl's;
 * - `stop NAMESPEC…`: stops them, waiting as supervisorctl does; refusals (not running, no such
 *   process) are answers, not failures;
 * - `pid`: supervisord's pid (answers once it is up); `pid NAME`: the program's pid, 0 when it is
 *   not running, nothing when there is no such program;
 * - `shutdown`.
 */
const CLIENT = [
  'import http.client, socket, sys, xmlrpc.client',
  'class UnixConnection(http.client.HTTPConnection):',
  '    def connect(self):',
  '        self.sock = socket.socket(socket.AF_UNIX)',
  '        self.sock.connect(sys.argv[1])',
  'def call(method, *params):',
  '    c = UnixConnection("localhost")',
  '    c.request("POST", "/RPC2", xmlrpc.client.dumps(params, "supervisor." + method), {"Content-Type": "text/xml"})',
  '    r = c.getresponse()',
  '    if r.status != 200: sys.exit(1)',
  '    return xmlrpc.client.loads(r.read())[0][0]',
  'command, args = sys.argv[2], sys.argv[3:]',
  'if command == "status":',
  '    out = []',
  '    for p in call("getAllProcessInfo"):',
  '        g, n = p["group"], p["name"]',
  '        spec = n if g == n else g + ":" + n',
  '        if any(a == spec or a == g + ":*" for a in args): out.append(spec + " " + p["statename"])',
  '    if out: print("\\n".join(out))',
  'elif command == "stop":',
  '    for a in args:',
  '        try:',
  '            if a.endswith(":*"): call("stopProcessGroup", a[:-2])',
  '            else: call("stopProcess", a)',
  '        except xmlrpc.client.Fault: pass',
  'elif command == "pid" and not args: print(call("getPID"))',
  'elif command == "pid" and len(args) == 1:',
  '    try: print(call("getProcessInfo", args[0])["pid"])',
  '    except xmlrpc.client.Fault: pass',
  'elif command == "shutdown" and not args: call("shutdown")',
  'else: sys.exit(2)',
].join('\n')

/** Where a machine's supervisord listens, and its configuration (a MachinePaths has both). */
export interface SupervisorPaths {
  supervisorSocket: string
  supervisordConf: string
}

/** A shell command running `supervisorctl -c conf ARGS…` the faster way above (stderr is the caller's to redirect). */
export function supervisorCommand(paths: SupervisorPaths, args: string[]): string {
  const quoted = args.map(q).join(' ')
  return `{ py=/usr/bin/python3; [ -x "$py" ] || py=python3; "$py" -c ${q(CLIENT)} ${q(paths.supervisorSocket)} ${quoted} 2>/dev/null || supervisorctl -c ${q(paths.supervisordConf)} ${quoted}; }`
}

/** `namespec STATE` lines for `namespecs`, as the first two columns of `supervisorctl status`; stderr discarded. */
export function supervisorStatesCommand(paths: SupervisorPaths, namespecs: string[]): string {
  return `{ ${supervisorCommand(paths, ['status', ...namespecs])} | awk '{print $1, $2}'; } 2>/dev/null`
}
