import {shellQuote as q} from '../remote/shell.js'

/**
 * What `supervisorctl status` prints in its first two columns (`group:program STATE`), read from
 * supervisord's XML-RPC interface on its unix socket by Python's standard library alone.
 * supervisorctl itself starts by importing pkg_resources, which scans every installed Python
 * package: about 0.25 s of CPU per call, and the status is read on every plan, apply and status.
 * This reads the same `supervisor.getAllProcessInfo` in about a quarter of that, with the system's
 * /usr/bin/python3 where there is one (a python3 earlier on PATH may be a slower wrapper). Where
 * it fails (no python3, an unexpected answer), supervisorctl answers instead: the same result.
 */
const READ_STATES = [
  'import http.client, socket, sys, xmlrpc.client',
  'class UnixConnection(http.client.HTTPConnection):',
  '    def connect(self):',
  '        self.sock = socket.socket(socket.AF_UNIX)',
  '        self.sock.connect(sys.argv[1])',
  'c = UnixConnection("localhost")',
  'c.request("POST", "/RPC2", xmlrpc.client.dumps((), "supervisor.getAllProcessInfo"), {"Content-Type": "text/xml"})',
  'r = c.getresponse()',
  'if r.status != 200: sys.exit(1)',
  'out = []',
  'for p in xmlrpc.client.loads(r.read())[0][0]:',
  '    g, n = p["group"], p["name"]',
  '    spec = n if g == n else g + ":" + n',
  '    if any(a == spec or a == g + ":*" for a in sys.argv[2:]): out.append(spec + " " + p["statename"])',
  'if out: print("\\n".join(out))',
].join('\n')

/**
 * A shell command printing `namespec STATE` lines for `namespecs` (`group:*` or `group:program`),
 * as the first two columns of `supervisorctl -c conf status namespecs…`; stderr is discarded.
 */
export function supervisorStatesCommand(socket: string, conf: string, namespecs: string[]): string {
  const specs = namespecs.map(q).join(' ')
  return `{ py=/usr/bin/python3; [ -x "$py" ] || py=python3; "$py" -c ${q(READ_STATES)} ${q(socket)} ${specs} || supervisorctl -c ${q(conf)} status ${specs} | awk '{print $1, $2}'; } 2>/dev/null`
}
