/**
 * Secret redaction for typed command lines and process argv, applied before
 * anything leaves the agent. Lines are split into simple commands and
 * unquoted words first (shell-words.ts), so the same rules see `-p'x y'`,
 * "--password=x" and -p\x alike; scripts passed as arguments (sh -c, su -c,
 * ssh host '…', eval, $(…)) are redacted as lines in turn.
 *
 * Over-redaction is the safe failure: a password never leaks, a port or a
 * path sometimes reads `****`. Every rule is a single forward scan (no
 * backtracking regular expression), so the cost is linear in the input.
 * The rules, in README order:
 *  1. values of flags whose name says password, passphrase, token, secret,
 *     key, cookie, auth, credential, bearer, pin, otp (`--db-password x`,
 *     `-storepass x`, `--token=x`, `--so-pin x`);
 *  2. ambiguous short flags by tool: `mysql -px`/`-p x`, `sshpass -px`,
 *     `redis-cli -a x`, `7z -px`, `zip -P x`, `ldapsearch -w x`, `sqlcmd -P x`,
 *     `mongo -p x`, `docker login -p x`, `openssl -k x`, `curl -b x`, `htpasswd -b … x`;
 *  3. `user:secret` (or `user%secret`) after -u, --user, -U, --proxy-user,
 *     --auth, curl -E/--cert, httpie -a;
 *  4. header values: Authorization, Proxy-Authorization, Cookie, X-Api-Key,
 *     PRIVATE-TOKEN, and any header (or JSON field) whose name contains key,
 *     token, secret, auth, session, password or cookie;
 *  5. URL passwords, and URL user names that look like tokens;
 *  6. `NAME=value` anywhere in a word, where NAME says pass, pwd, secret,
 *     token, key, auth, credential, session, cookie, signature, pin, otp (query
 *     strings, form bodies, `--env=DB_PASSWORD=x`, `-Dx.keyStorePassword=x`,
 *     conninfo), and a URL query's one-time `code=` and `otp=`;
 *  7. `pass:x` and `env:X` arguments (openssl);
 *  8. well-known token formats anywhere (ghp_, github_pat_, glpat-, xox?-,
 *     sk_live_, AKIA…, npm_, hvs., JWTs);
 *  9. settings named like secrets followed by their value (`aws configure
 *     set aws_secret_access_key x`, `git config user.password x`, `npm config
 *     set //r/:_authToken x`, `vault login x`, `gh secret set N --body x`);
 * 10. SQL password literals (`PASSWORD 'x'`, `IDENTIFIED BY 'x'`);
 * 11. positional secrets by tool (htpasswd, rabbitmqctl, sqlplus, mc, db2, …),
 *     and a command run by `docker exec`/`kubectl exec --` under its own rules;
 * 12. whatever --redact-pattern matches (RE2, linear time).
 */
import path from 'node:path';
import type { UserPattern } from './patterns';
import { RecentArgvText } from './recent-argv';
import { isPlainWord, quoteWord, splitCommandsUpTo, type Word } from './shell-words';

export const REDACTED = '****';

export interface Redactor {
  readonly enabled: boolean;
  /** `joined`, when given, is `args.join('\0')` already at hand (the decoder's argv block): it saves the join. */
  args(args: readonly string[], joined?: string): string[];
  line(line: string): string;
}

/** No variable's use redacted (argv has no assignments to follow): one empty set, not one per call. */
const NO_NAMES: ReadonlySet<string> = new Set();
/** Nested scripts (sh -c "sh -c '…'", $( $( … ) )) deeper than this are hidden whole. */
const MAX_DEPTH = 4;
/** Wrappers in a row (`sudo env nice timeout 5 …`) followed before the rest is hidden whole. */
const MAX_CHAIN = 8;
/** A word the command's rules changed with more scripts in it than this is hidden whole (each script costs a pass over the word). */
const MAX_SCRIPTS_IN_CHANGED_WORD = 16;
/**
 * Simple commands read per argv or typed line, scripts inside it included; the text after them is
 * hidden whole. A 4 KiB script of deploy steps has ~220; 2,000 one-word commands (`a;a;…`) made a
 * script argument cost the agent ~6 times a short exec, and two users exec'ing such scripts filled the ring.
 */
const MAX_COMMANDS = 512;

/** Substrings that make a NAME=value or header name secret. */
// honeycomb-team: Honeycomb's API key header (x-honeycomb-team), in OTEL_EXPORTER_OTLP_HEADERS and Collector configs.
const SECRET_WORDS = ['pass', 'pwd', 'secret', 'token', 'key', 'auth', 'credential', 'cookie', 'session', 'signature', 'private', 'honeycomb-team'];
const SECRET_NAMES = new Set(['pw', 'sig', 'jwt', 'bearer', 'sid', 'psk']);
/** Authorization schemes: the word kept before the hidden credentials (and Splunk HEC's, Opsgenie's, Okta's, Dynatrace's). */
const AUTH_SCHEMES = new Set(['bearer', 'basic', 'token', 'digest', 'negotiate', 'ntlm', 'apikey', 'aws4-hmac-sha256', 'splunk', 'geniekey', 'ssws', 'api-token']);
const TOKEN_PREFIXES = ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_', 'glpat-', 'gldt-', 'xoxa-', 'xoxb-', 'xoxp-', 'xoxr-', 'xoxs-', 'xoxe-', 'sk_live_', 'sk_test_', 'rk_live_', 'rk_test_', 'sk-', 'AKIA', 'ASIA', 'AIza', 'npm_', 'hvs.', 'hvb.', 'pypi-', 'eyJ',
  // Hugging Face, GitLab runner and pipeline-trigger, DigitalOcean, Shopify, Slack app, Google OAuth access, SendGrid, Doppler, Linear, Stripe webhook.
  'hf_', 'glrt-', 'glptt-', 'dop_v1_', 'doo_v1_', 'shpat_', 'shpss_', 'xapp-', 'ya29.', 'SG.', 'dp.pt.', 'dp.st.', 'lin_api_', 'whsec_'];

/**
 * A table by program name, as a Map: a program may be called `constructor` or `__proto__`, and a
 * Map looks up a new string by its hash where Object.hasOwn first looks it up in V8's string table
 * (the hottest line of the tool rules on a 4 KiB sh -c script).
 */
function byTool<T>(table: Record<string, T>): ReadonlyMap<string, T> {
  return new Map(Object.entries(table));
}

/** Net-SNMP's command-line tools: -c community, -A and -X passphrases. */
const SNMP_TOOLS = ['snmpwalk', 'snmpbulkwalk', 'snmpget', 'snmpgetnext', 'snmpbulkget', 'snmpset', 'snmptable', 'snmptrap', 'snmpinform', 'snmpdelta', 'snmpdf', 'snmpstatus', 'snmptest', 'snmpnetstat', 'snmpusm', 'snmpvacm'];
const MYSQL = ['mysql', 'mysqldump', 'mysqladmin', 'mysqlimport', 'mysqlshow', 'mysqlcheck', 'mysqlpump', 'mysqlsh', 'mariadb', 'mariadb-dump', 'mariadb-admin', 'mycli'];
/** Options whose value is a name to match, not a program: `find / -name mysql -prune`. */
const NAME_TESTS = new Set(['-name', '-iname', '-path', '-ipath', '-wholename', '-iwholename', '-lname', '-ilname', '-regex', '-iregex']);
/** Short flags whose value is a secret, glued (-pX) or not (-p X), by tool. */
const SHORT_SECRET_FLAGS = byTool<readonly string[]>({
  ...Object.fromEntries(MYSQL.map((t) => [t, ['-p']])),
  sshpass: ['-p'],
  'redis-cli': ['-a'],
  'valkey-cli': ['-a'],
  'keydb-cli': ['-a'],
  '7z': ['-p'],
  '7zz': ['-p'],
  hatch: ['-a'], // hatch publish -a TOKEN
  racadm: ['-p'], // Dell iDRAC
  ilorest: ['-p'], // HPE iLO
  swift: ['-K'], // OpenStack Swift's key
  '7za': ['-p'],
  '7zr': ['-p'],
  rar: ['-p', '-hp'], // -hp: the password that encrypts the headers too
  unrar: ['-p'],
  slappasswd: ['-s'], // OpenLDAP: slappasswd -s SECRET (the secret to hash)
  zip: ['-P'],
  unzip: ['-P'],
  zipcloak: ['-P'],
  ldapsearch: ['-w'],
  ldapadd: ['-w'],
  ldapmodify: ['-w'],
  ldapdelete: ['-w'],
  ldapwhoami: ['-w'],
  ldappasswd: ['-w', '-s'],
  sqlcmd: ['-P'],
  bcp: ['-P'],
  mongo: ['-p'],
  mongosh: ['-p'],
  mongodump: ['-p'],
  mongorestore: ['-p'],
  mongoexport: ['-p'],
  mongoimport: ['-p'],
  openssl: ['-k', '-K'],
  curl: ['-b'],
  smbclient: ['-P'],
  'ssh-keygen': ['-N', '-P'],
  useradd: ['-p'],
  usermod: ['-p'],
  mosquitto_pub: ['-P'],
  mosquitto_sub: ['-P'],
  mosquitto_rr: ['-P'],
  doctl: ['-t'],
  consul: ['-encrypt'],
  serf: ['-encrypt'],
  nomad: ['-encrypt'],
  twine: ['-p'],
  rabbitmqadmin: ['-p'],
  rdesktop: ['-p'],
  vault: ['-id'], // vault token create -id=TOKEN
  cqlsh: ['-p'],
  poetry: ['-p'], // poetry publish -p
  ...Object.fromEntries(SNMP_TOOLS.map((t) => [t, ['-c', '-A', '-X']])), // community, auth and privacy passphrases
  ipmitool: ['-P', '-k', '-y'], // password, Kg key (text, hex)
  beeline: ['-p'], // Hive's: -n user -p password (-w names a password file)
  security: ['-w'], // macOS keychain: add-generic-password -w password
  influx: ['-t'], // InfluxDB 2's CLI: -t token
  isql: ['-P'], // Sybase's (unixODBC's isql takes DSN USER PASSWORD: in command())
  osql: ['-P'],
  tsql: ['-P'],
  sqsh: ['-P'],
  'cypher-shell': ['-p'],
  'yt-dlp': ['-p'],
  'youtube-dl': ['-p'],
  hydra: ['-p'],
  kadmin: ['-w'],
  'redis-benchmark': ['-a'],
  ncftp: ['-p'],
  ncftpget: ['-p'],
  ncftpput: ['-p'],
  memtier_benchmark: ['-a'],
  // Monitoring plugins (Nagios, Icinga): their password flags; check_http's -a is user:password (below).
  check_mysql: ['-p'],
  check_mysql_query: ['-p'],
  check_pgsql: ['-p'],
  check_ldap: ['-P'],
  check_ldaps: ['-P'],
  check_smtp: ['-P'],
  // Windows remote-access tools run from Linux: a password, or an NT hash to pass (-H).
  'evil-winrm': ['-p', '-H'],
  crackmapexec: ['-p', '-H'],
  nxc: ['-p', '-H'],
  netexec: ['-p', '-H'],
  plink: ['-pw'], // PuTTY's
  pscp: ['-pw'],
  psftp: ['-pw'],
  vsql: ['-w'], // Vertica's: -U user -w password
  p4: ['-P'], // Perforce: -u user -P password (or ticket)
  sendemail: ['-xp'], // sendEmail's SMTP password (-xu is the user)
  medusa: ['-p'], // -p password (-P a file of them)
  cbq: ['-p'], // Couchbase's query shell
  'couchbase-cli': ['-p'],
  vsce: ['-p'], // vsce publish -p TOKEN (VS Code Marketplace), ovsx's (Open VSX)
  ovsx: ['-p'],
  codecov: ['-t'],
  ccrypt: ['-K'],
  mcrypt: ['-k'],
  smbmap: ['-p'],
  redfishtool: ['-p'],
  vmrun: ['-gp', '-vp'], // a guest's password, an encrypted VM's
  spicy: ['-w'],
  xe: ['-pw'], // XenServer's
  esxcli: ['-p'],
  mqttx: ['-P'],
  hdbsql: ['-p'], // SAP HANA
  odoo: ['-w'], // the database's password
  'odoo-bin': ['-w'],
  register_new_matrix_user: ['-p'], // Synapse
  synapse_register_new_matrix_user: ['-p'],
  altool: ['-p'], // xcrun altool -u APPLE_ID -p APP_PASSWORD
  ...Object.fromEntries(['megatools', 'megals', 'megaget', 'megaput', 'megadl', 'megamkdir', 'megarm', 'megadf', 'megacopy'].map((t) => [t, ['-p']])), // megatools' -p PASSWORD
});
/** rabbitmqctl commands followed by a user name and that user's password. */
const RABBITMQ_PASSWORD_COMMANDS = new Set(['add_user', 'change_password', 'authenticate_user']);
/** Oracle tools whose first argument is a logon, `user/password@database`. */
const ORACLE_LOGON_TOOLS = new Set(['sqlplus', 'sqlldr', 'exp', 'imp', 'expdp', 'impdp', 'rman', 'sqlcl', 'tbsql']);
const LOGIN_TOOLS = new Set(['docker', 'podman', 'nerdctl', 'buildah', 'skopeo', 'helm', 'oras', 'crane', 'regctl', 'az', 'oc', 'cf', 'cosign', 'notation', 'conan', 'expo', 'twilio']);
/**
 * Positional secrets after a subcommand: the tool, the subcommand's words in order, and how many
 * words after its last one the secret is (`mc alias set NAME URL ACCESS_KEY SECRET_KEY`).
 */
const POSITIONAL_SECRETS = byTool<ReadonlyArray<[subcommand: readonly string[], after: number]>>({
  mc: [[['alias', 'set'], 4], [['alias', 'add'], 4], [['config', 'host', 'add'], 4], [['admin', 'user', 'add'], 3]],
  cf: [[['auth'], 2]],
  db2: [[['using'], 1]], // db2 connect to DB user NAME using PASSWORD
  wpa_passphrase: [[[], 2]], // wpa_passphrase SSID PASSPHRASE
  wg: [[['private-key'], 1], [['preshared-key'], 1]], // wg set wg0 private-key FILE (often <(echo KEY))
  'neo4j-admin': [[['set-initial-password'], 1]],
  snyk: [[['auth'], 1]], // snyk auth TOKEN
  hostapd_cli: [[['wps_pin'], 2]], // hostapd_cli wps_pin any PIN
  b2: [[['authorize-account'], 2], [['account', 'authorize'], 2]], // Backblaze: KEY_ID KEY
  'mega-login': [[[], 2]], // MEGAcmd: EMAIL PASSWORD
  wandb: [[['login'], 1]],
  drush: [[['upwd'], 2], [['user:password'], 2], [['user-password'], 2]], // Drupal: drush upwd USER PASSWORD
  prosodyctl: [[['register'], 3]], // prosodyctl register USER HOST PASSWORD
  ejabberdctl: [[['register'], 3], [['change_password'], 3]],
  filebrowser: [[['users', 'add'], 2]], // filebrowser users add USER PASSWORD
  syncthing: [[['gui', 'password', 'set'], 1], [['gui', 'apikey', 'set'], 1]], // syncthing cli config gui password set X
  emqx: [[['admins', 'passwd'], 2], [['admins', 'add'], 2]], // emqx ctl admins passwd USER PASSWORD
  emqx_ctl: [[['admins', 'passwd'], 2], [['admins', 'add'], 2]],
  bw: [[['unlock'], 1], [['login'], 2]], // Bitwarden: unlock [PASSWORD], login [EMAIL] [PASSWORD]; send TEXT: TOOL_RULES
  vault: [[['operator', 'unseal'], 1]], // an unseal key share
  pdftk: [[['input_pw'], 1], [['owner_pw'], 1], [['user_pw'], 1]],
  iwconfig: [[['key'], 1]], // iwconfig wlan0 key s:PASSWORD
  wpa_cli: [[['psk'], 1], [['password'], 1]], // wpa_cli set_network 0 psk '"x"'
  'grafana-cli': [[['reset-admin-password'], 1]],
  rclone: [[['obscure'], 1]],
  user: [[[], 2]], // ftp's `user NAME PASSWORD`, in a here-document or script given to ftp
  ngrok: [[['add-authtoken'], 1], [['authtoken'], 1]], // ngrok config add-authtoken TOKEN (v3), ngrok authtoken TOKEN (v2)
  doppler: [[['configure', 'set', 'token'], 1]],
  grafana: [[['reset-admin-password'], 1]], // grafana cli admin reset-admin-password
  kubeadm: [[['token', 'create'], 1], [['token', 'delete'], 1]], // a bootstrap token, id.secret
  pppd: [[['password'], 1]], // pppd call isp user NAME password PASSWORD (its options are words, not flags)
  civo: [[['apikey', 'add'], 2], [['apikey', 'save'], 2]], // civo apikey add NAME KEY
});
/** Options of openssl passwd and mkpasswd that take a value: what is left is passwords (openssl), or a password and a salt (mkpasswd). */
const PASSWORD_HASHERS = byTool<ReadonlySet<string>>({
  openssl: new Set(['-salt', '-in', '-rand', '-writerand']),
  mkpasswd: new Set(['-m', '--method', '-S', '--salt', '-R', '--rounds', '-P', '--password-fd']),
});
/**
 * Key-value stores' `put KEY VALUE`, and setters of the same shape after `skip` positionals (an app,
 * a schema, a file and its section): the value is hidden when the key's last part is named like a secret.
 */
const KV_PUT = byTool<{ after: readonly string[]; skip: number }>({
  consul: { after: ['kv', 'put'], skip: 0 },
  etcdctl: { after: ['put'], skip: 0 },
  kubectl: { after: ['config', 'set'], skip: 0 }, // kubectl config set users.kim.token x
  dconf: { after: ['write'], skip: 0 }, // dconf write /org/x/password "'x'"
  gsettings: { after: ['set'], skip: 1 }, // gsettings set SCHEMA KEY VALUE
  cf: { after: ['set-env'], skip: 1 }, // cf set-env APP NAME VALUE
  crudini: { after: ['--set'], skip: 2 }, // crudini --set FILE SECTION KEY VALUE
  glab: { after: ['variable', 'set'], skip: 0 }, // glab variable set KEY VALUE
  dvc: { after: ['remote', 'modify'], skip: 1 }, // dvc remote modify [--local] REMOTE OPTION VALUE
});
/** ansible-vault encrypt_string's options that take a value: the other words after it are the strings to encrypt. */
const ANSIBLE_VAULT_WITH_VALUE = new Set(['--vault-password-file', '--vault-pass-file', '--vault-id', '--encrypt-vault-id', '-n', '--name', '--stdin-name', '--output']);
/** ConvertTo-SecureString's parameters that take a value (-String's is the secret, and positional: both are hidden). */
const SECURE_STRING_WITH_VALUE = new Set(['-Key', '-SecureKey']);
/** bw send's options that take a value. */
const BW_SEND_WITH_VALUE = new Set(['-n', '--name', '-d', '--deleteInDays', '--password', '--maxAccessCount', '--notes', '--hidden']);
/** oathtool's options that take a value. */
const OATHTOOL_WITH_VALUE = new Set(['-d', '--digits', '-w', '--window', '-s', '--time-step-size', '-S', '--start-time', '-N', '--now']);
/** tpm2_changeauth's options that take a value. */
const TPM2_CHANGEAUTH_WITH_VALUE = new Set(['-c', '--object-context', '-C', '--parent-context', '-p', '--object-auth', '-r', '--private', '--cphash']);
/** pulumi config set's options that take a value. */
const PULUMI_WITH_VALUE = new Set(['-s', '--stack', '-C', '--cwd', '--config-file']);
/** rman's logons follow these words (`rman target sys/x@db catalog rc/y@cat`), or are glued to them with `=`. */
const RMAN_LOGON_WORDS = new Set(['target', 'catalog', 'auxiliary']);
/** FreeRDP's Windows-style options whose value is a password: /p:x, /gp:x (gateway), /pth:x (a hash). */
const FREERDP = new Set(['xfreerdp', 'wlfreerdp', 'sdl-freerdp', 'xfreerdp3', 'wlfreerdp3', 'sdl-freerdp3']);
const FREERDP_SECRET_OPTION = /^\/(?:p|gp|pth|password):/i;
/** Container CLIs whose `exec` (and `run`) run a command: its own rules apply to it. */
const CONTAINER_CLIS = new Set(['docker', 'podman', 'nerdctl']);
/** Their exec/run flags that take no value (a long flag not listed takes one, unless written --flag=value). */
const CONTAINER_BOOLEAN_FLAGS = new Set(['--rm', '--privileged', '--init', '--read-only', '--tty', '--interactive', '--detach', '--no-healthcheck', '--oom-kill-disable', '--publish-all', '--sig-proxy', '--disable-content-trust', '--help', '--quiet', '--no-deps', '--service-ports', '--use-aliases', '--remove-orphans', '--build', '--no-TTY']);
/** Kubernetes CLIs: what follows `--` in exec, run and debug is a command. */
const KUBE_CLIS = new Set(['kubectl', 'oc', 'k3s', 'microk8s.kubectl']);
/** The length of the longest of these words: a longer word is none of them, and is not hashed to see. */
function longestOf(words: ReadonlySet<string>): number {
  return Math.max(...[...words].map((word) => word.length));
}
/** The flags of age, base64 and openssl enc that make them decode (what they read is then no secret of the line's). */
const DECODE_FLAGS = new Set(['-d', '--decrypt', '--decode', '-D']);
/** gpg's flags that encrypt or sign what it reads. */
const GPG_ENCRYPT_FLAGS = new Set(['-e', '--encrypt', '-c', '--symmetric', '-s', '--sign', '--clearsign', '--armor', '-a', '-ea', '-ca', '-se']);
/** Flags that make a command read a password on standard input (docker login, gpg, …). */
const PASSWORD_STDIN_FLAGS = new Set(['--password-stdin', '--passphrase-fd', '--token-stdin', '--with-token', '--passwd-on-stdin']);
const LONGEST_PASSWORD_STDIN_FLAG = longestOf(PASSWORD_STDIN_FLAGS);
/** Commands whose words a line reading a password on standard input pipes to it. */
const ECHOES = new Set(['echo', 'printf', 'yes']);
/** Flags whose value is `user:secret`. */
const USER_FLAGS = new Set(['-u', '--user', '-U', '--proxy-user', '--auth', '--proxy-auth', '--http-user', '--creds', '--src-creds', '--dest-creds']);
/** Tools' own flags whose value is `user:secret`: httpie's -a, curl's -E/--cert (a certificate's file:passphrase), ApacheBench's -A and -P, … */
const TOOL_USER_FLAGS = byTool<readonly string[]>({
  http: ['-a'], https: ['-a'], xh: ['-a'], xhs: ['-a'], // httpie and xh
  curl: ['-E', '--cert'],
  'transmission-remote': ['-n'],
  ab: ['-A', '-P'],
  check_http: ['-a'], check_curl: ['-a'], // monitoring plugins
  nikto: ['-id'],
  ttyd: ['-c'], gotty: ['-c'], // web terminals
});
/** The last letters of the long user flags (r, h, s): `--name=` with another before its `=` is no user flag. */
const USER_FLAG_LAST_LETTERS = new Set([...USER_FLAGS].filter((flag) => flag.length > 2).map((flag) => flag.charCodeAt(flag.length - 1)));
/** A `--user=…` word longer than this (the longest user flag, its `=` and this) is not looked at as one: no user:password is 4 KiB. */
const MAX_USER_VALUE = 1024;
/**
 * Longer words are no user flag, and are not looked up: a Set lookup hashes the whole word, and
 * argv words are new strings each exec (a fifth of the rules' time on a 4 KiB argv went there).
 */
const LONGEST_USER_FLAG = longestOf(USER_FLAGS);
/** The letters of USER_FLAGS' short flags (-u, -U): a glued user flag (`-ualice:x`) is known by its letter. */
const USER_FLAG_LETTERS = new Set([...USER_FLAGS].filter((flag) => flag.length === 2).map((flag) => flag.charCodeAt(1)));
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox', 'fish', 'rbash', 'csh', 'tcsh']);
/** A command that runs the rest of its arguments as a command: its options that take a value, and the positionals before that command. */
type Wrapper = {
  withValue: readonly string[];
  positionals: number;
  /** Options that take two values (bwrap's `--bind SRC DEST`). */
  withTwoValues?: readonly string[];
  /** The words, one list of them, that must follow the program for it to run a command (`ip netns exec NS cmd`, `uv run cmd`). */
  subcommands?: ReadonlyArray<readonly string[]>;
  /** Its positionals run up to a `--`, when there is one (`mise exec node@20 -- cmd`). */
  untilDashes?: boolean;
};
/** Development environments' `run`: their options that take a value. */
const ENV_RUNNER: Wrapper = { withValue: ['-e', '--env', '--env-file', '-p', '--python', '--project', '--directory', '--with', '--package', '--extra', '--group', '--index', '-n', '--name', '--prefix', '--cwd', '--environment'], positionals: 0, subcommands: [['run']] };
/** Containers and machines a command runs in: `lxc exec NAME -- cmd`. */
const IN_MACHINE: Wrapper = { withValue: ['--env', '--cwd', '--user', '--group', '--mode', '--project', '-d', '--working-directory'], positionals: 1, subcommands: [['exec']], untilDashes: true };
const WRAPPERS = byTool<Wrapper>({
  sudo: { withValue: ['-u', '-g', '-h', '-p', '-C', '-D', '-r', '-t', '-U', '-T', '-R'], positionals: 0 },
  doas: { withValue: ['-u', '-C'], positionals: 0 },
  env: { withValue: ['-u', '-C', '--unset', '--chdir', '-S', '--split-string'], positionals: 0 }, // -S's value is a command line: command() reads it
  nice: { withValue: ['-n'], positionals: 0 },
  nohup: { withValue: [], positionals: 0 },
  time: { withValue: ['-f', '-o'], positionals: 0 },
  timeout: { withValue: ['-s', '-k', '--signal', '--kill-after'], positionals: 1 },
  stdbuf: { withValue: ['-i', '-o', '-e'], positionals: 0 },
  ionice: { withValue: ['-c', '-n', '-p'], positionals: 0 },
  setsid: { withValue: [], positionals: 0 },
  chroot: { withValue: [], positionals: 1 },
  taskset: { withValue: [], positionals: 1 },
  flock: { withValue: ['-w', '-E'], positionals: 1 },
  xargs: { withValue: ['-a', '-d', '-E', '-I', '-L', '-n', '-P', '-s'], positionals: 0 },
  exec: { withValue: ['-a'], positionals: 0 },
  command: { withValue: [], positionals: 0 },
  builtin: { withValue: [], positionals: 0 },
  strace: { withValue: ['-e', '-o', '-p', '-s', '-u'], positionals: 0 },
  ltrace: { withValue: ['-e', '-o', '-p', '-s', '-u'], positionals: 0 },
  unbuffer: { withValue: [], positionals: 0 },
  runuser: { withValue: ['-u', '-g', '-G'], positionals: 0 },
  nsenter: { withValue: ['-t', '-S', '-G'], positionals: 0 },
  unshare: { withValue: [], positionals: 0 },
  watch: { withValue: ['-n', '-d'], positionals: 0 },
  screen: { withValue: ['-S', '-c', '-e', '-h', '-p', '-t', '-T', '-Logfile'], positionals: 0 }, // screen -dmS NAME cmd (not -X stuff: below)
  'kubectl-exec': { withValue: [], positionals: 0 },
  npx: { withValue: ['-p', '--package', '-c', '--call'], positionals: 0 },
  'systemd-run': { withValue: ['-u', '--unit', '-p', '--property', '--description', '--slice', '-E', '--setenv', '--uid', '--gid', '-M', '--machine', '-H', '--host',
    '--on-active', '--on-boot', '--on-startup', '--on-unit-active', '--on-unit-inactive', '--on-calendar', '--timer-property', '--path-property', '--socket-property',
    '--service-type', '--nice', '--working-directory'], positionals: 0 },
  // Commands run on many hosts: one word is a script (`pdsh -w h 'cmd; cmd'`), several a command.
  pdsh: { withValue: ['-w', '-x', '-l', '-t', '-u', '-f', '-R', '-g', '-X'], positionals: 0 },
  clush: { withValue: ['-w', '-x', '-g', '-X', '-l', '-f', '-t', '-u', '-o', '-O', '-R'], positionals: 0 },
  pssh: { withValue: ['-h', '-H', '-l', '-p', '-o', '-e', '-t', '-O', '-x', '-X'], positionals: 0 },
  'parallel-ssh': { withValue: ['-h', '-H', '-l', '-p', '-o', '-e', '-t', '-O', '-x', '-X'], positionals: 0 },
  bunx: { withValue: ['-p', '--package'], positionals: 0 },
  pnpx: { withValue: [], positionals: 0 },
  // Debuggers, profilers, sandboxes and schedulers run the command they are given.
  xcrun: { withValue: ['--sdk', '--toolchain'], positionals: 0 }, // xcrun altool …, xcrun notarytool …
  gdb: { withValue: ['-ex', '-x', '-iex', '-ix', '-p', '-pid', '-c', '-core', '-d', '-cd', '-s', '-e', '-se', '-b', '-tty', '-D', '--pid', '--core', '--command', '--eval-command', '--init-command', '--init-eval-command', '--data-directory'], positionals: 0 },
  valgrind: { withValue: [], positionals: 0 }, // its options are --name=value
  perf: { withValue: ['-e', '--event', '-o', '--output', '-p', '--pid', '-t', '--tid', '-C', '--cpu', '-c', '--count', '-F', '--freq', '-G', '--cgroup', '-r', '--repeat', '-u', '--uid', '-m', '--mmap-pages', '-I', '--interval-print', '-x', '--field-separator', '--call-graph'],
    positionals: 0, subcommands: [['record'], ['stat'], ['trace']] },
  firejail: { withValue: [], positionals: 0 }, // its options are --name=value
  bwrap: { withValue: ['--chdir', '--tmpfs', '--proc', '--dev', '--dir', '--mqueue', '--unsetenv', '--uid', '--gid', '--hostname', '--remount-ro', '--seccomp', '--add-seccomp-fd', '--info-fd',
    '--json-status-fd', '--block-fd', '--userns-block-fd', '--sync-fd', '--lock-file', '--userns', '--userns2', '--pidns', '--perms', '--size', '--args', '--cap-add', '--cap-drop', '--exec-label', '--file-label', '--argv0'],
  withTwoValues: ['--bind', '--ro-bind', '--dev-bind', '--bind-try', '--ro-bind-try', '--dev-bind-try', '--symlink', '--setenv', '--file', '--bind-data', '--ro-bind-data', '--chmod', '--overlay-src'], positionals: 0 },
  chrt: { withValue: ['-T', '--sched-runtime', '-P', '--sched-period', '-D', '--sched-deadline'], positionals: 1 }, // chrt [options] PRIORITY cmd
  numactl: { withValue: ['-N', '-m', '-C', '-i', '-p', '-P', '-w', '--cpunodebind', '--membind', '--physcpubind', '--interleave', '--preferred', '--preferred-many', '--weighted-interleave'], positionals: 0 },
  cgexec: { withValue: ['-g'], positionals: 0 },
  rlwrap: { withValue: ['-b', '-e', '-f', '-g', '-H', '-l', '-M', '-O', '-P', '-q', '-s', '-S', '-t', '-w', '-z'], positionals: 0 },
  proxychains: { withValue: ['-f'], positionals: 0 },
  proxychains4: { withValue: ['-f'], positionals: 0 },
  tsocks: { withValue: [], positionals: 0 },
  ip: { withValue: [], positionals: 1, subcommands: [['netns', 'exec']] }, // ip netns exec NS cmd
  machinectl: { withValue: ['-E', '--setenv', '--uid', '-M', '--machine'], positionals: 1, subcommands: [['shell']] }, // machinectl shell kim@ /usr/bin/cmd
  // Credentials and environments given to a command: aws-vault exec PROFILE -- cmd, op run -- cmd, dotenv -- cmd, direnv exec DIR cmd.
  'aws-vault': { withValue: ['-d', '--duration', '-t', '--mfa-token', '--region', '--prompt', '--session-ttl', '--assume-role-ttl'], positionals: 1, subcommands: [['exec']] },
  op: { withValue: ['--env-file', '--account', '--config', '--session', '--cache'], positionals: 0, subcommands: [['run']] },
  dotenv: { withValue: ['-e', '-v', '-c'], positionals: 0 },
  direnv: { withValue: [], positionals: 1, subcommands: [['exec']] },
  mise: { withValue: ['-C', '--cd', '-j', '--jobs'], positionals: 0, subcommands: [['exec'], ['x']], untilDashes: true },
  asdf: { withValue: [], positionals: 0, subcommands: [['exec']] },
  pipenv: ENV_RUNNER,
  uv: { ...ENV_RUNNER, subcommands: [['run'], ['tool', 'run']] },
  uvx: { ...ENV_RUNNER, subcommands: undefined },
  pdm: ENV_RUNNER,
  hatch: ENV_RUNNER,
  rye: ENV_RUNNER,
  pixi: ENV_RUNNER,
  poetry: ENV_RUNNER,
  conda: ENV_RUNNER,
  mamba: ENV_RUNNER,
  micromamba: ENV_RUNNER,
  npm: { withValue: ['-p', '--package', '-c', '--call', '-w', '--workspace'], positionals: 0, subcommands: [['exec'], ['x']] },
  pnpm: { withValue: ['-C', '--dir', '--filter'], positionals: 0, subcommands: [['exec'], ['dlx']] },
  bundle: { withValue: ['--gemfile'], positionals: 0, subcommands: [['exec']] },
  toolbox: { withValue: ['-c', '--container', '-d', '--distro', '-r', '--release'], positionals: 0, subcommands: [['run']] },
  distrobox: { withValue: ['-n', '--name'], positionals: 1, subcommands: [['enter']], untilDashes: true },
  lxc: IN_MACHINE,
  incus: IN_MACHINE,
  multipass: IN_MACHINE,
  // GNU parallel: its command runs in a shell, one word a script (`parallel 'curl -u x {}' ::: a b`).
  parallel: { withValue: ['-j', '--jobs', '-P', '-S', '--sshlogin', '--slf', '--sshloginfile', '-a', '--arg-file', '-d', '--delimiter', '-E', '-I',
    '-C', '--colsep', '--joblog', '--results', '--res', '--timeout', '--retries', '-n', '--max-args', '-N', '-L', '--max-lines', '-s', '--max-chars',
    '--halt', '--tagstring', '--tmpdir', '--workdir', '--wd', '--delay', '--memfree', '--load', '--nice', '--basefile', '--bf', '--return'], positionals: 0 },
});
/** The wrapper words[k] is (screen is one unless it types keys: `screen -X stuff`). */
function wrapperOf(words: readonly string[], k: number, tool: string): Wrapper | undefined {
  if (tool === 'screen' && words.indexOf('stuff', k + 1) > k) return undefined;
  const wrapper = WRAPPERS.get(tool);
  return wrapper === undefined || subcommandLength(words, k, wrapper) >= 0 ? wrapper : undefined;
}
/** How many words of the wrapper's subcommand follow words[k] (0: it has none); -1 when none of them does. */
function subcommandLength(words: readonly string[], k: number, wrapper: Wrapper): number {
  if (wrapper.subcommands === undefined) return 0;
  // Loops, not every(): every command of every script comes here for its program.
  for (const subcommand of wrapper.subcommands) {
    let j = 0;
    while (j < subcommand.length && words[k + 1 + j] === subcommand[j]) j++;
    if (j === subcommand.length) return j;
  }
  return -1;
}
/**
 * Where the command run by the wrapper at words[k] starts (words.length: it runs none): past its
 * options and their values, NAME=value words and its positionals.
 */
function wrappedCommandIndex(words: readonly string[], k: number, wrapper: Wrapper): number {
  let i = k + 1 + Math.max(0, subcommandLength(words, k, wrapper));
  let positionals = wrapper.positionals;
  while (i < words.length) {
    const w = words[i] as string;
    if (w === '--') return i + 1;
    if (w.startsWith('-') && w.length > 1) {
      // A value follows the flag, or a cluster of letters ending in it (`sudo -iu root`, `screen -dmS name`).
      if (wrapper.withTwoValues?.includes(w) === true) i += 3;
      else i += wrapper.withValue.includes(w) || (isLetterCluster(w) && wrapper.withValue.includes(`-${w.charAt(w.length - 1)}`)) ? 2 : 1;
    } else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) i++;
    else if (positionals > 0) {
      positionals--;
      i++;
    } else if (wrapper.untilDashes === true) {
      const dashes = words.indexOf('--', i);
      return dashes < 0 ? i : dashes + 1;
    } else break;
  }
  return i;
}
/**
 * Wrappers whose one last word is a script run by a shell (watch's, and the remote shell's of pdsh,
 * clush, pssh; GNU parallel's, before its argument sources).
 */
const SCRIPT_WRAPPERS = new Set(['watch', 'pdsh', 'clush', 'pssh', 'parallel-ssh', 'parallel']);
/** A Windows-style option, `/Name:value`: its name. */
const WINDOWS_OPTION = /^\/([A-Za-z][A-Za-z_]{0,63}):/;
/** Programs that hash what they read (`echo -n x | sha256sum`). */
const HASHERS = new Set(['sha1sum', 'sha224sum', 'sha256sum', 'sha384sum', 'sha512sum', 'md5sum', 'b2sum', 'b3sum', 'cksum', 'shasum', 'argon2']);
/** doveadm auth test's options that take a value (`doveadm auth test -x service=imap USER PASSWORD`). */
const DOVEADM_AUTH_WITH_VALUE = new Set(['-a', '-x', '-M']);
/** cargo's options that take a value (`cargo login --registry NAME TOKEN`). */
const CARGO_WITH_VALUE = new Set(['--registry', '--index', '--config', '--color', '-Z']);
/** The longest name in SHORT_SECRET_FLAGS: a longer word names none of its tools. */
const LONGEST_SECRET_TOOL = longestOf(new Set(SHORT_SECRET_FLAGS.keys()));
/** PostgreSQL's client programs, whose --password makes them prompt for one. */
const PG_CLIENTS = ['psql', 'pg_dump', 'pg_dumpall', 'pg_restore', 'pg_basebackup', 'pg_receivewal', 'pg_recvlogical', 'pg_isready', 'pgbench',
  'createdb', 'dropdb', 'createuser', 'dropuser', 'vacuumdb', 'reindexdb', 'clusterdb', 'pg_amcheck'];
/** Flags named like secrets that take no value, by tool: they make it prompt, or read a file (`dropdb --password shop`, `composer config --auth …`). */
const NO_VALUE_SECRET_FLAGS = byTool<readonly string[]>({
  ...Object.fromEntries(PG_CLIENTS.map((t) => [t, ['--password']])),
  composer: ['--auth'], // composer config --auth: the setting goes to auth.json
  etcd: ['--client-cert-auth', '--peer-client-cert-auth'], // switches: etcd --peer-client-cert-auth --trusted-ca-file=…
  'kube-apiserver': ['--enable-bootstrap-token-auth'],
});
/** Flags whose value is a command line run by a shell, by tool (su's are in command()). */
const SCRIPT_FLAGS = byTool<readonly string[]>({
  script: ['-c', '--command'], // script -c 'cmd' typescript-file
  'nix-shell': ['--run', '--command'],
  vagrant: ['-c', '--command'], // vagrant ssh -c 'cmd'
  gcloud: ['--command'], // gcloud compute ssh VM --command 'cmd'
});
/** GNU parallel's argument sources: its command ends before the first. */
const PARALLEL_SOURCES = new Set([':::', '::::', ':::+', '::::+']);
/** Salt's execution functions whose argument is a shell command. */
const SALT_SHELL_FUNCTIONS = new Set(['cmd.run', 'cmd.shell', 'cmd.run_all', 'cmd.run_stdout', 'cmd.run_bg']);
/** Ansible's modules whose -a is a command line (command is the default module). */
const ANSIBLE_COMMAND_MODULES = new Set(['command', 'shell', 'raw', 'ansible.builtin.command', 'ansible.builtin.shell', 'ansible.builtin.raw']);
/** impacket's tools: the target is `[domain/]user:password@host`. */
const IMPACKET = /^(?:impacket-[a-z]+|(?:psexec|smbexec|wmiexec|atexec|dcomexec|secretsdump|mssqlclient|smbclient|GetUserSPNs|GetNPUsers|getTGT|lookupsid|reg|services)\.py)$/i;
/** find's options that run a command. */
const FIND_EXEC = new Set(['-exec', '-execdir', '-ok', '-okdir']);
const SSH_WITH_VALUE = new Set(['-b', '-c', '-D', '-E', '-e', '-F', '-I', '-i', '-J', '-L', '-l', '-m', '-O', '-o', '-p', '-Q', '-R', '-S', '-W', '-w', '-B']);
const INTERPRETER = /^(?:python|perl|ruby|node|php|lua|tclsh|awk)[\d.]*$/;
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', '}', 'time', 'coproc']);
const REDIS_CLIS = new Set(['redis-cli', 'valkey-cli', 'keydb-cli']);
/** FTP clients that read their commands on standard input. */
const FTP_CLIENTS = new Set(['ftp', 'tnftp', 'pftp', 'netkit-ftp']);
/** Config tools whose settings are plain words (`nmcli … password X`, `rclone … pass X`, `mysqladmin password X`); the others' plain words are subcommands. */
const PLAIN_SETTING_TOOLS = new Set(['nmcli', 'rclone', 'mysqladmin']);
// netlify env:set, bws secret create, tmux setenv, doppler secrets set, launchctl setenv, csh's setenv: KEY VALUE.
const CONFIG_TOOLS = new Set(['aws', 'git', 'npm', 'yarn', 'pnpm', 'gcloud', 'az', 'pip', 'pip3', 'poetry', 'composer', 'cargo', 'heroku', 'dotnet', 'wp',
  'netlify', 'bws', 'tmux', 'doppler', 'launchctl', 'setenv', 'tccli', 'pdm', ...PLAIN_SETTING_TOOLS]);
/**
 * Programs that read a secret on standard input whatever their arguments: a password (chpasswd's `user:password` lines, passwd's
 * `echo -e "x\nx" | passwd`), a Kerberos, Samba or VNC password, a LUKS passphrase, a KeePassXC database's password (asked by every
 * keepassxc-cli command that opens one).
 */
const STDIN_SECRET_READERS = new Set(['chpasswd', 'kinit', 'smbpasswd', 'cryptsetup', 'passwd', 'vncpasswd', 'mount.davfs', 'keepassxc-cli']);

/**
 * Is `word`, a positional of a config tool, a setting named like a secret (its value follows)? A
 * setting has a `.` `:` `/` `_` or a capital in it (`user.password`, `aws_secret_access_key`,
 * `//r/:_authToken`, `npmAuthToken`); a plain word is a subcommand (`gcloud auth login`, `aws
 * secretsmanager get-secret-value`, `gcloud secrets versions add`), except for the tools whose
 * settings are plain words.
 */
function isSecretSetting(tool: string, word: string): boolean {
  if (word.includes('=')) return false;
  if (!PLAIN_SETTING_TOOLS.has(tool) && !/[.:/_A-Z]/.test(word)) return false;
  return isSecretName(word.split(/[.:/]/).pop() ?? '');
}

/** path.basename, without its call when there is no slash (nearly every program word). */
function baseName(word: string): string {
  return word.includes('/') ? path.basename(word) : word;
}

function lower(s: string): string {
  return s.toLowerCase();
}

/** Does this flag name (`--db-password`, `-storepass`) say its value is a secret? */
const SECRET_FLAG_SUFFIX = /^(?:pw|pwd|key|otp|mfa|2fa|pin|puk)$|(?:password|passwd|pword|passphrase|passcode|pass|passin|passout|token|secret|apikey|authkey|secretkey|privatekey|cookie|auth|credentials?|bearer)$/i;
/** Flags that take a secret but whose name's end does not say so. */
const SECRET_FLAGS = new Set(['--secret-string', '--secret-binary', '--token-code', '--mfa-code', '--2fa-code', '--otp-code', '--totp-code', '--git_basic_authorization']);
const LONGEST_SECRET_FLAG = longestOf(SECRET_FLAGS);
/** The longest word SECRET_FLAG_SUFFIX ends with (`credentials`). */
const LONGEST_FLAG_SUFFIX = 11;
function isSecretFlag(word: string): boolean {
  if (word.charCodeAt(0) !== 45 || word.length < 3 || word.includes('=')) return false;
  const long = word.charCodeAt(1) === 45;
  if (!long && word.length < 4) return false; // -ab is a cluster of short flags
  // The part after the last - _ or . is what is matched, and only its end: a part longer than
  // LONGEST_FLAG_SUFFIX is matched on its last characters, which decide the same. Found from the
  // end, not with lastIndexOf (a character loop in V8, three of them over every flag).
  const cut = word.length - LONGEST_FLAG_SUFFIX;
  let start = word.length;
  while (start > cut) {
    const c = word.charCodeAt(start - 1);
    if (c === 45 || c === 95 || c === 46) break;
    start--;
  }
  return SECRET_FLAG_SUFFIX.test(word.slice(start));
}

/**
 * A flag whose value is a command that prints a secret: restic's and rclone's --password-command,
 * impala-shell's --ldap_password_cmd, msmtp's --passwordeval. The value is read as a script whose output is hidden.
 */
const SECRET_COMMAND_FLAG = /^--?(?:[a-z0-9]+[-_.])*(?:pass|password|passphrase|secret|token|key)[-_]?(?:command|cmd|eval)$/i;
/** Is word[0, end) such a flag? */
function isSecretCommandFlag(word: string, end = word.length): boolean {
  // The name must end in cmd, command or eval before the pattern runs (without cutting the word): a
  // filter on the last letter alone let `--password` and `--from-literal` through to it, in every argv.
  const last = word.charCodeAt(end - 1) | 0x20;
  const endsAsCommand = last === 100 ? endsWithLowerCase(word, end, 'cmd') || endsWithLowerCase(word, end, 'command') : last === 108 && endsWithLowerCase(word, end, 'eval');
  return endsAsCommand && SECRET_COMMAND_FLAG.test(end === word.length ? word : word.slice(0, end));
}

/** A flag that names a file holding a secret (cryptsetup --key-file, --password-file, --passphrase-file). */
const SECRET_FILE_FLAG = /^--?(?:[a-z0-9]+[-_.])*(?:pass|password|passphrase|secret|token|key|pw)[-_]?file$/i;
function isSecretFileFlag(word: string): boolean {
  return word.charCodeAt(0) === 45 && word.endsWith('file') && SECRET_FILE_FLAG.test(word);
}

/** Does a NAME in NAME=value or a header name say secret? */
const SECRET_WORD = new RegExp(SECRET_WORDS.join('|'), 'i');
/**
 * ssh options (`-o Name=value`, ssh_config) named with key, auth or password whose values are
 * settings (yes, no, algorithm lists), compared lower case: `-o StrictHostKeyChecking=no` stays readable.
 */
const SSH_SETTING_NAMES = new Set([
  'stricthostkeychecking', 'hostkeyalgorithms', 'hostkeyalias', 'updatehostkeys', 'verifyhostkeydns', 'addkeystoagent',
  'pubkeyauthentication', 'pubkeyacceptedkeytypes', 'pubkeyacceptedalgorithms', 'passwordauthentication', 'kbdinteractiveauthentication',
  'challengeresponseauthentication', 'gssapiauthentication', 'hostbasedauthentication', 'preferredauthentications', 'numberofpasswordprompts',
]);
const LONGEST_SSH_SETTING_NAME = longestOf(SSH_SETTING_NAMES);
/** A PIN or a one-time password by its name's last part: `PIN`, `--so-pin`, `SIM_PIN`, `user.otp`, `--otp` (not `--spin`, `--totp`). */
function isPinName(name: string): boolean {
  const n = name.length;
  if (n < 3) return false;
  const last = name.charCodeAt(n - 1) | 32;
  if (last !== 110 && last !== 112) return false; // …n, …p
  const tail = lower(name.slice(n - 3));
  if (tail !== 'pin' && tail !== 'otp') return false;
  const before = n === 3 ? 45 : name.charCodeAt(n - 4);
  return before === 45 || before === 95 || before === 46;
}

/** A MongoDB URI's settings named with auth that say which database and mechanism, compared lower case (`?authSource=admin`). */
const MONGODB_AUTH_SETTINGS = new Set(['authsource', 'authmechanism']);
function isSecretName(name: string): boolean {
  // ssh's names are letters only: a name with . or _ (keyStorePassword's Java property, DB_PASSWORD) is not lower-cased to see.
  if (SECRET_WORD.test(name)) {
    if ((name.length === 10 || name.length === 13) && (name.charCodeAt(0) | 32) === 97) return !MONGODB_AUTH_SETTINGS.has(lower(name));
    return !(name.length <= LONGEST_SSH_SETTING_NAME && name.length >= 12 && !name.includes('.') && !name.includes('_') && SSH_SETTING_NAMES.has(lower(name)));
  }
  if (isPinName(name)) return true;
  // SonarQube's sonar.login is a token (sonar.password is named so).
  if (name.length >= 11 && endsWithLowerCase(name, name.length, 'sonar.login')) return true;
  if (name.length > 6 || name.length < 2) return false;
  return SECRET_NAMES.has(lower(name.charCodeAt(0) === 45 ? name.replace(/^-+/, '') : name));
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
/** NAME_CHARS[c] is 1 for the characters of a NAME in NAME=value: letters, digits, _ . - [ ]. */
const NAME_CHARS = new Uint8Array(128);
for (let c = 0; c < 128; c++) NAME_CHARS[c] = isAlnum(c) || c === 95 || c === 46 || c === 45 || c === 91 || c === 93 ? 1 : 0;
/** A table, not the comparisons it is built from: names are scanned backwards a character at a time. */
function isNameChar(c: number): boolean {
  return c < 128 && NAME_CHARS[c] === 1;
}
/** A character of a header name: letters, digits, _ -. */
function isHeaderChar(c: number): boolean {
  return isAlnum(c) || c === 95 || c === 45;
}
/**
 * Token formats (rule 8) are found from where their prefix can end, not by a regular expression run
 * over the text: the engine tries the 27 prefixes at nearly every character (~1.5 ns each, 6 µs on
 * a 4 KiB argv), while indexOf finds each `_` `-` `.` at memchr speed and a table of the character
 * before it rules out nearly all (2.2 µs on the exec storm's argv; a compiler's, full of `_` and
 * `-`, still ~6). A token is its prefix, not preceded by a letter or digit, and 12 more characters.
 */
const TOKEN_PREFIX_ANCHORS = ['_', '-', '.'];
/** TOKEN_PREFIXES_ENDING[anchor][code of the character before it]: the prefixes ending there. */
const TOKEN_PREFIXES_ENDING: ReadonlyArray<ReadonlyArray<readonly string[] | undefined>> = TOKEN_PREFIX_ANCHORS.map((anchor) => {
  const byPrevious: Array<string[] | undefined> = new Array<string[] | undefined>(128).fill(undefined);
  for (const prefix of TOKEN_PREFIXES) {
    if (!prefix.endsWith(anchor)) continue;
    const previous = prefix.charCodeAt(prefix.length - 2);
    (byPrevious[previous] ??= []).push(prefix);
  }
  return byPrevious;
});
/**
 * The prefixes that end in a letter (AKIA, eyJ …), found from a rarer letter of theirs: indexOf of
 * a whole prefix is no memchr when its first letter is common (`e`, at every one of them).
 */
const TOKEN_PREFIXES_BY_LETTER: ReadonlyArray<[letter: string, prefixes: ReadonlyArray<[prefix: string, offset: number]>]> = [
  ['A', [['AKIA', 0], ['ASIA', 0], ['AIza', 0]]],
  ['J', [['eyJ', 2]]],
];
/** For the test that checks every prefix is found. */
export const TOKEN_PREFIX_LIST: readonly string[] = TOKEN_PREFIXES;

/** Where a token prefix starts in `text` (not after a letter or digit), with its length, in text order. */
export function tokenStarts(text: string): Array<[start: number, length: number]> {
  const starts: Array<[number, number]> = [];
  const add = (start: number, length: number): void => {
    if (start >= 0 && (start === 0 || !isAlnum(text.charCodeAt(start - 1)))) starts.push([start, length]);
  };
  for (let a = 0; a < TOKEN_PREFIX_ANCHORS.length; a++) {
    const anchor = TOKEN_PREFIX_ANCHORS[a] as string;
    const byPrevious = TOKEN_PREFIXES_ENDING[a] as ReadonlyArray<readonly string[] | undefined>;
    for (let at = text.indexOf(anchor, 1); at >= 0; at = text.indexOf(anchor, at + 1)) {
      const previous = text.charCodeAt(at - 1);
      const prefixes = previous < 128 ? byPrevious[previous] : undefined;
      if (prefixes === undefined) continue;
      for (const prefix of prefixes) if (text.startsWith(prefix, at + 1 - prefix.length)) add(at + 1 - prefix.length, prefix.length);
    }
  }
  for (const [letter, prefixes] of TOKEN_PREFIXES_BY_LETTER) {
    for (let at = text.indexOf(letter); at >= 0; at = text.indexOf(letter, at + 1)) {
      for (const [prefix, offset] of prefixes) if (text.startsWith(prefix, at - offset)) add(at - offset, prefix.length);
    }
  }
  // At most one prefix starts at a place (none is a prefix of another), so the order is total. Found
  // anchor by anchor, they are mostly in order already (`ghp_` × 1,024: no sort of 1,024 needed).
  let ordered = true;
  for (let k = 1; k < starts.length && ordered; k++) ordered = (starts[k - 1] as [number, number])[0] < (starts[k] as [number, number])[0];
  return ordered ? starts : starts.sort((x, y) => x[0] - y[0]);
}

/** A token-looking URL user name (no password given): long, letters and digits mixed. */
function looksLikeToken(text: string): boolean {
  if (TOKEN_PREFIXES.some((p) => text.startsWith(p))) return true;
  return text.length >= 20 && /^[A-Za-z0-9_\-.~+/=]+$/.test(text) && /[0-9]/.test(text) && /[A-Za-z]/.test(text);
}

/**
 * Rules that look inside one word's text, wherever it is (5, 4, 6, 7, 8). `text` may be several
 * words joined with NUL (redactWords): no rule looks across a NUL, so the result is each word's
 * own, and one pass over a 4 KiB argv costs a few indexOf scans rather than 64 rounds of them.
 */
export function redactText(text: string): string {
  if (text.length < 3) return text;
  let out = text;
  // Before the header rule: `expect "password:"; send "x"` is no header.
  if (out.length >= 10 && out.includes('send')) out = redactExpectSends(out);
  // Both need a colon: one scan rules them out for most words.
  if (out.includes(':')) {
    if (out.includes('://')) out = redactWebhooks(redactUrls(out));
    if (out.includes(':')) out = redactHeaders(out);
    if (out.includes('@tcp') || out.includes('@unix(')) out = redactGoDsns(out);
  }
  // netrc lines echoed into ~/.netrc: `machine h login u password x`.
  if (out.includes('machine ')) out = redactNetrc(out);
  // A quote, at memchr speed, before the keywords are looked for case-blind; `password 'x'` is 12 characters.
  if (out.length >= 12 && (out.includes("'") || out.includes('"'))) {
    out = redactSqlPasswords(out);
    if (out.length >= 20 && (out.includes('ecret') || out.includes('ECRET'))) out = redactCreateSecrets(out);
    if (out.includes('(') || out.includes('=>')) out = redactCallSecrets(out);
  }
  if (out.includes('=')) out = redactAssignments(out);
  if (out.includes(':')) out = redactPassWords(out);
  // A token is its prefix and at least 12 more characters.
  if (out.length >= 14) out = redactKnownTokens(out);
  return out;
}

/** Where a Go MySQL driver DSN's address starts, after its `user:password@`. */
const DSN_ADDRESSES = ['tcp(', 'tcp6(', 'unix('];

/**
 * Go's MySQL driver DSN, `user:password@tcp(host:3306)/db` (`@tcp6(…)`, `@unix(…)`), as given to
 * `-dsn` or in a variable: the password (from the user's first colon to the `@`). Each `@` is looked
 * at once, and the user part read back from it stops at the `@` before: linear.
 */
function redactGoDsns(text: string): string {
  let out = '';
  let from = 0;
  let previousAt = -1;
  for (let at = text.indexOf('@'); at >= 0; previousAt = at, at = text.indexOf('@', at + 1)) {
    if (!DSN_ADDRESSES.some((address) => text.startsWith(address, at + 1))) continue;
    let start = at;
    while (start > previousAt + 1 && start > from && !endsDsnUserinfo(text.charCodeAt(start - 1))) start--;
    const colon = text.indexOf(':', start);
    if (colon < 0 || colon >= at - 1) continue;
    out += text.slice(from, colon + 1) + REDACTED;
    from = at;
  }
  return from === 0 ? text : out + text.slice(from);
}
/** What ends a DSN's user part, read back from its `@`: a blank, a quote, a NUL, `/`, `=` (comparisons: a Set cost 6 ns a character). */
function endsDsnUserinfo(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x27 || c === 0x22 || c === 0x00 || c === 0x2f || c === 0x3d;
}

/**
 * In a word holding `machine …` (a netrc entry), the token after each ` password ` (netrc's own
 * keywords are lower case). The word's start and its first `machine ` are found once per word,
 * going forward: linear however many ` password ` there are.
 */
function redactNetrc(text: string): string {
  let out = '';
  let from = 0;
  let wordStart = 0;
  let nextNul = text.indexOf('\0');
  let machine = text.indexOf('machine ');
  for (let at = text.indexOf(' password ', 1); at >= 0; at = text.indexOf(' password ', at + 1)) {
    if (nextNul >= 0 && nextNul < at) {
      while (nextNul >= 0 && nextNul < at) {
        wordStart = nextNul + 1;
        nextNul = text.indexOf('\0', wordStart);
      }
      machine = text.indexOf('machine ', wordStart);
    }
    if (machine < 0) break; // no netrc entry from here on
    if (machine > at) continue;
    let v = at + 10;
    while (text.charCodeAt(v) === 32) v++;
    let end = v;
    // To white space, or a backslash (printf's `\n` between entries).
    for (let c = text.charCodeAt(end); end < text.length && c !== 32 && c !== 9 && c !== 10 && c !== 0 && c !== 92; c = text.charCodeAt(++end));
    if (end === v) continue;
    out += text.slice(from, v) + REDACTED;
    from = end;
    at = end - 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** What a SQL password literal follows: `PASSWORD 'x'`, `PASSWORD('x')`, `PASSWORD [FOR account] = 'x'`, `IDENTIFIED [WITH plugin] BY 'x'`. */
const SQL_PASSWORD_KEYWORD = /password|identified/gi;

/** What CREATE and ALTER act on when they may set a password. */
const SQL_ACCOUNTS = new Set(['user', 'role', 'login']);

/**
 * Are these words a SQL statement that may set a password (a here-document typed into mysql or
 * psql reaches the rules as commands)? CREATE|ALTER USER|ROLE|LOGIN, SET PASSWORD, GRANT (MySQL 5's
 * IDENTIFIED BY); not `ALTER TABLE t ADD COLUMN password text`, nor bash's `set`.
 */
function isSqlPasswordStatement(words: readonly string[], k: number): boolean {
  const first = words[k] as string;
  if (first.length < 3 || first.length > 6) return false;
  const statement = lower(first);
  const second = lower(words[k + 1] as string);
  if (statement === 'create' || statement === 'alter') return SQL_ACCOUNTS.has(second);
  return (statement === 'set' && second === 'password') || statement === 'grant';
}

/**
 * A SQL statement read as words (`ALTER USER app IDENTIFIED BY 'x';` in a here-document: the
 * quotes are gone): the word after PASSWORD (after `FOR account =` in SET PASSWORD), and after
 * IDENTIFIED [WITH plugin] BY.
 */
function hideSqlPasswordWords(words: readonly string[], k: number, out: string[]): void {
  for (let i = k + 1; i + 1 < words.length; i++) {
    const w = lower(words[i] as string);
    let v = -1;
    if (w === 'password') {
      v = i + 1;
      if (lower(words[v] as string) === 'for') v = words.indexOf('=', v) + 1; // SET PASSWORD FOR 'u'@'h' = 'x'
      else if (words[v] === '=') v++;
    } else if (w === 'identified') {
      v = i + 1;
      if (lower(words[v] as string) === 'with') v += 2;
      v = lower(words[v] as string) === 'by' ? v + 1 : -1;
    }
    if (v > i && v < words.length) {
      out[v] = REDACTED;
      i = v;
    }
  }
}

/** Is `text` at `at` the word FOR (any case), followed by a blank? */
function isFor(text: string, at: number): boolean {
  return (text.charCodeAt(at) | 32) === 102 && (text.charCodeAt(at + 1) | 32) === 111 && (text.charCodeAt(at + 2) | 32) === 114 && isBlank(text.charCodeAt(at + 3));
}
/** How far the `=` of SET PASSWORD FOR ACCOUNT = 'x' is looked for (an account is `'user'@'host'`). */
const MAX_SQL_ACCOUNT = 256;

/** Is `text` at `at` the word BY (any case), followed by no letter? */
function isBy(text: string, at: number): boolean {
  return (text.charCodeAt(at) | 32) === 98 && (text.charCodeAt(at + 1) | 32) === 121 && !/[A-Za-z0-9_]/.test(text.charAt(at + 2));
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * SQL statements that set a password (`ALTER USER bob WITH PASSWORD 'x'`, `CREATE USER … IDENTIFIED
 * BY 'x'`, `SET PASSWORD … = PASSWORD('x')`) in `psql -c`, `mysql -e`, an echo piped to a client or
 * a here-string: the quoted literal. Only with something between the keyword and the quote, so a
 * JSON or dict key (`"password":`) is left to the header rule. Each keyword reads forward to its
 * quote once, and the search goes on after it: linear.
 */
function redactSqlPasswords(text: string): string {
  let out = '';
  let from = 0;
  SQL_PASSWORD_KEYWORD.lastIndex = 0;
  for (let m = SQL_PASSWORD_KEYWORD.exec(text); m !== null; m = SQL_PASSWORD_KEYWORD.exec(text)) {
    const keywordEnd = m.index + m[0].length;
    let v = keywordEnd;
    while (isBlank(text.charCodeAt(v))) v++;
    if (v > keywordEnd && isBy(text, v)) {
      v += 2;
      while (isBlank(text.charCodeAt(v))) v++;
    } else if (v > keywordEnd && isFor(text, v)) {
      // SET PASSWORD FOR 'kim'@'%' = 'x': on to the `=` after the account, in this word and near.
      const eq = text.indexOf('=', v);
      if (eq > 0 && eq - v <= MAX_SQL_ACCOUNT && eq < wordEnd(text, v)) v = eq;
    }
    if (text.charCodeAt(v) === 61 || text.charCodeAt(v) === 40) {
      v++; // = or (
      while (isBlank(text.charCodeAt(v))) v++;
    }
    const quote = text.charCodeAt(v);
    if ((quote !== 39 && quote !== 34) || v === keywordEnd) continue;
    const close = text.indexOf(quote === 39 ? "'" : '"', v + 1);
    const last = wordEnd(text, v);
    const end = close < 0 || close > last ? last : close;
    if (end > v + 1) {
      out += text.slice(from, v + 1) + REDACTED;
      from = end;
    }
    SQL_PASSWORD_KEYWORD.lastIndex = Math.max(end, keywordEnd);
  }
  return from === 0 ? text : out + text.slice(from);
}

/** DuckDB's `CREATE [OR REPLACE] [PERSISTENT | TEMPORARY] SECRET [name] (` (its options follow). */
const CREATE_SECRET = /\bcreate\s+(?:or\s+replace\s+)?(?:persistent\s+|temporary\s+)?secret\b/gi;
/** How far after CREATE SECRET its `(` is looked for (a name, IF NOT EXISTS, IN storage). */
const MAX_CREATE_SECRET_HEAD = 256;

/**
 * DuckDB's CREATE SECRET (TYPE s3, KEY_ID 'AK…', SECRET 'x', SESSION_TOKEN 'y'), typed with
 * `duckdb -c` or in a here-document: the quoted values of options named like secrets. Each
 * option's name is read back from its quote to the end of what came before: linear.
 */
function redactCreateSecrets(text: string): string {
  let out = '';
  let from = 0;
  CREATE_SECRET.lastIndex = 0;
  for (let m = CREATE_SECRET.exec(text); m !== null; m = CREATE_SECRET.exec(text)) {
    const last = wordEnd(text, m.index);
    const open = text.indexOf('(', m.index + m[0].length);
    if (open < 0 || open >= last || open - m.index > MAX_CREATE_SECRET_HEAD) continue;
    let i = open + 1;
    let optionsFrom = i;
    while (i < last && text.charCodeAt(i) !== 41) {
      const quote = text.charCodeAt(i);
      if (quote !== 39 && quote !== 34) {
        i++;
        continue;
      }
      // Its name: the name characters before the blanks before the quote.
      let nameEnd = i;
      while (nameEnd > optionsFrom && isBlank(text.charCodeAt(nameEnd - 1))) nameEnd--;
      let nameStart = nameEnd;
      while (nameStart > optionsFrom && isNameChar(text.charCodeAt(nameStart - 1))) nameStart--;
      // Its closing quote (SQL doubles a quote inside: 'it''s').
      let close = text.indexOf(quote === 39 ? "'" : '"', i + 1);
      while (close >= 0 && close + 1 < last && text.charCodeAt(close + 1) === quote) close = text.indexOf(quote === 39 ? "'" : '"', close + 2);
      const end = close < 0 || close > last ? last : close;
      if (nameStart < nameEnd && end > i + 1 && isSecretName(text.slice(nameStart, nameEnd))) {
        out += text.slice(from, i + 1) + REDACTED;
        from = end;
      }
      i = end + 1;
      optionsFrom = i;
    }
    CREATE_SECRET.lastIndex = Math.max(i, CREATE_SECRET.lastIndex);
  }
  return from === 0 ? text : out + text.slice(from);
}

/** expect's `send "…"` (or `send -- "…"`, `send {…}`). */
const EXPECT_SEND = /\bsend\s+(?:--\s+)?(?:"([^"\0\n]*)"|\{([^}\0\n]*)\})/g;
/** What an expect pattern asking for a secret says. */
const SECRET_PROMPT = /assword|assphrase|passcode|\bPIN\b|token|secret/i;

/**
 * In an expect script (`expect -c '…'`, a here-document), what is sent after a prompt for a
 * password: `expect "password:"; send "x\r"`, `expect "*assword*" { send "x\r" }`. Each send looks
 * back to the `expect` before it, not past it: linear.
 */
function redactExpectSends(text: string): string {
  let out = '';
  let from = 0;
  let lastExpect = 0;
  EXPECT_SEND.lastIndex = 0;
  for (let m = EXPECT_SEND.exec(text); m !== null; m = EXPECT_SEND.exec(text)) {
    const expect = text.lastIndexOf('expect', m.index);
    if (expect < lastExpect || expect < 0) continue;
    lastExpect = expect + 1;
    if (!SECRET_PROMPT.test(text.slice(expect, m.index))) continue;
    const value = m[1] ?? m[2] ?? '';
    const start = m.index + m[0].length - 1 - value.length;
    const kept = value.endsWith('\\r') ? 2 : 0; // the Enter key sent after it
    if (value.length === kept) continue;
    out += text.slice(from, start) + REDACTED + value.slice(value.length - kept);
    from = start + value.length;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** A string literal of code given to an interpreter, on one line: "…" or '…'. */
const CODE_STRING = `(?:"[^"\\0\\n]*"|'[^'\\0\\n]*')`;
/**
 * An auth call's second argument: `basic_auth("u", "x")`, `login('u', 'x')`, `HTTPBasicAuth("u", "x")`,
 * requests' `auth=("u", "x")`, MongoDB's `db.auth("u", "x")` and `db.changeUserPassword("u", "x")`.
 */
const AUTH_CALL = new RegExp(`\\b(?:(?:basic_?auth|HTTPBasicAuth|HTTPDigestAuth|login|authenticate|auth|changeUserPassword)\\s*|auth\\s*=\\s*)\\(\\s*${CODE_STRING}\\s*,\\s*(${CODE_STRING})`, 'gi');
/**
 * A connect call's third argument: `DBI->connect(dsn, "u", "x")`, `new PDO(dsn, "u", "x")`, `mysqli_connect("h", "u", "x")`,
 * Django's `create_superuser("u", "e", "x")`, Python keyring's `set_password("service", "u", "x")`.
 */
const CONNECT_CALL = new RegExp(`\\b(?:\\w*connect|PDO|create_(?:super)?user|set_password)\\s*\\(\\s*${CODE_STRING}\\s*,\\s*${CODE_STRING}\\s*,\\s*(${CODE_STRING})`, 'gi');

/** A PHP or Ruby key named like a secret, then its literal, maybe through a call: `'password' => 'x'`, `'password' => bcrypt('x')`. */
const ARROW_SECRET = new RegExp(`(["'])\\w*(?:pass|pwd|secret|token|key)\\w*\\1\\s*=>\\s*(?:[\\w:]+\\(\\s*)?(${CODE_STRING})`, 'gi');

/**
 * A password-hashing call's first argument: bcrypt's `hashpw(b'x', …)` and `hashSync('x', 10)`, PHP's
 * `password_hash('x', …)`, werkzeug's `generate_password_hash('x')`, Django's `make_password('x')`.
 */
const HASH_CALL = new RegExp(`\\b(?:hashpw|hashSync|hash|password_hash|generate_password_hash|make_password|crypt)\\s*\\(\\s*b?(${CODE_STRING})`, 'gi');
/** A literal piped into Ansible's (Jinja's) password_hash filter: `{{ 'x' | password_hash('sha512') }}`. */
const HASH_FILTER = new RegExp(`(${CODE_STRING})\\s*\\|\\s*password_hash\\b`, 'g');

/** sbt's and Gradle's `Credentials("realm", "host", "user", "x")`: the fourth argument. */
const CREDENTIALS_CALL = new RegExp(`\\bCredentials\\s*\\(\\s*${CODE_STRING}\\s*,\\s*${CODE_STRING}\\s*,\\s*${CODE_STRING}\\s*,\\s*(${CODE_STRING})`, 'g');

/** The last literal of a call matched by AUTH_CALL, CONNECT_CALL, HASH_CALL, CREDENTIALS_CALL or ARROW_SECRET, hidden (its quotes kept). */
function hideLastLiteral(call: string, literal: string): string {
  return `${call.slice(0, call.length - literal.length + 1)}${REDACTED}${literal.charAt(0)}`;
}

/**
 * In code given to an interpreter (`ruby -e`, `perl -e`, `php -r`, `python -c`), the password given
 * positionally to an auth, a connect or a password-hashing call, and the value of a PHP or Ruby key named like a secret
 * (`'password' => 'x'`). Named arguments (`password='x'`, `{password: 'x'}`) are the assignment and
 * header rules'.
 */
function redactCallSecrets(text: string): string {
  const calls = text.replace(AUTH_CALL, hideLastLiteral).replace(CONNECT_CALL, hideLastLiteral).replace(HASH_CALL, hideLastLiteral).replace(CREDENTIALS_CALL, hideLastLiteral).replace(ARROW_SECRET, (arrow: string, _quote: string, literal: string) => hideLastLiteral(arrow, literal));
  return calls.includes('password_hash') ? calls.replace(HASH_FILTER, (filter: string, literal: string) => `${literal.charAt(0)}${REDACTED}${literal.charAt(0)}${filter.slice(literal.length)}`) : calls;
}

/** Where the word holding `from` ends: its NUL, or the end of the text. */
function wordEnd(text: string, from: number): number {
  const nul = text.indexOf('\0', from);
  return nul < 0 ? text.length : nul;
}

/** Rule 7's `pass:x` as a whole word, found from its colon (indexOf of a word starting with a common letter stops at each). */
function redactPassWords(text: string): string {
  let out = '';
  let from = 0;
  for (let colon = text.indexOf(':', 4); colon >= 0; colon = text.indexOf(':', colon + 1)) {
    const at = colon - 4;
    if ((at > 0 && text.charCodeAt(at - 1) !== 0) || at < from || !text.startsWith('pass', at)) continue;
    out += `${text.slice(from, at)}pass:${REDACTED}`;
    from = wordEnd(text, colon);
    colon = from;
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * Where the first match of `pattern` (global) at or after `from` starts, else text.length. The
 * scans below run in the regular expression engine: a charCodeAt loop in JavaScript costs two to
 * four times as much per character on argv strings (slices of the decoded block).
 */
function searchFrom(pattern: RegExp, text: string, from: number): number {
  pattern.lastIndex = from;
  const m = pattern.exec(text);
  return m === null ? text.length : m.index;
}
/** Ends a URL's authority. */
const AUTHORITY_END = /[/?#'" \t\n\0]/g;
/** Ends a URL's authority when its password holds `#` or `?` (redactUrls). */
const PATH_START = /[/'" \t\n\0]/g;
/** Ends a URL's path. */
const PATH_END = /[?#'" \t\n\0]/g;
/** Ends an unquoted header value inside a word. */
const HEADER_VALUE_END = /[ \t\n,;&}"'\0]/g;

function redactUrls(text: string): string {
  let out = '';
  let from = 0;
  // The next `@` from the authority on, kept until passed: lastIndexOf alone walked back to the
  // text's start from every `://` without one (`x://` × 1,024: 0.8 ms, quadratic).
  let nextAt = -1;
  for (let i = text.indexOf('://'); i >= 0; i = text.indexOf('://', i + 3)) {
    const authStart = i + 3;
    let authEnd = searchFrom(AUTHORITY_END, text, authStart);
    if (nextAt < authStart) nextAt = text.indexOf('@', authStart);
    if (nextAt < 0) break; // no `@` after here: no URL further on has a user
    if (nextAt >= authEnd) {
      // `user:p#ss@host`, `user:p?ss@host`: a password typed unencoded, read by clients (libpq) to the last `@` before the path.
      const c = text.charCodeAt(authEnd);
      if (c !== 35 && c !== 63) continue;
      const colon = text.indexOf(':', authStart);
      if (colon < 0 || colon >= authEnd || /^\d*$/.test(text.slice(colon + 1, authEnd))) continue; // host:port?query
      const pathStart = searchFrom(PATH_START, text, authEnd);
      if (nextAt >= pathStart) continue;
      authEnd = pathStart;
    }
    const at = text.lastIndexOf('@', authEnd - 1); // the authority's last, at or after nextAt
    if (at < authStart) continue;
    const userinfo = text.slice(authStart, at);
    const colon = userinfo.indexOf(':');
    let replacement: string | undefined;
    if (colon >= 0) replacement = `${userinfo.slice(0, colon)}:${REDACTED}`;
    else if (looksLikeToken(userinfo)) replacement = REDACTED;
    if (replacement === undefined) continue;
    out += text.slice(from, authStart) + replacement;
    from = at;
    i = authEnd - 3 > i ? authEnd - 3 : i;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Webhook URLs whose last path part is their secret (Slack's, Discord's): where that path starts. */
const WEBHOOK_PATHS = ['hooks.slack.com/services/', 'discord.com/api/webhooks/', 'discordapp.com/api/webhooks/'];

/** Rule 8 for webhook URLs: `https://hooks.slack.com/services/T…/B…/secret`, the last part hidden. */
function redactWebhooks(text: string): string {
  let out = text;
  for (const marker of WEBHOOK_PATHS) if (out.includes(marker)) out = redactWebhook(out, marker);
  if (out.includes(TELEGRAM_BOT_PATH)) out = redactTelegramBots(out);
  return out;
}

/** Telegram's bot API has the bot's token as its first path part: `https://api.telegram.org/bot123:AA…/sendMessage`. */
const TELEGRAM_BOT_PATH = 'api.telegram.org/bot';

function redactTelegramBots(text: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(TELEGRAM_BOT_PATH); at >= 0; at = text.indexOf(TELEGRAM_BOT_PATH, at + 1)) {
    if (!text.startsWith('://', at - 3) && text.charCodeAt(at - 1) !== 46) continue;
    const tokenStart = at + TELEGRAM_BOT_PATH.length;
    const tokenEnd = searchFrom(AUTHORITY_END, text, tokenStart); // the path part ends where an authority does: at / ? # …
    if (tokenEnd === tokenStart) continue;
    out += text.slice(from, tokenStart) + REDACTED;
    from = tokenEnd;
    at = tokenEnd;
  }
  return from === 0 ? text : out + text.slice(from);
}

function redactWebhook(text: string, marker: string): string {
  let out = '';
  let from = 0;
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) {
    if (!text.startsWith('://', at - 3) && text.charCodeAt(at - 1) !== 46) continue; // the host, or a subdomain of it
    const pathStart = at + marker.length;
    const pathEnd = searchFrom(PATH_END, text, pathStart);
    const last = text.lastIndexOf('/', pathEnd - 1);
    if (last < pathStart || pathEnd - last < 2) {
      at = pathEnd; // no part after the ids, nor for a marker further in this path: one scan of it, not one per marker
      continue;
    }
    out += text.slice(from, last + 1) + REDACTED;
    from = pathEnd;
    at = pathEnd;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** The longest auth scheme word (`aws4-hmac-sha256`): a longer word is none, and is not lower-cased to see. */
const LONGEST_AUTH_SCHEME = longestOf(AUTH_SCHEMES);

const AUTHORIZATION = 'authorization';
/** Does text[0, end) end with `suffix` (lower case, ASCII letters), in any case? Without cutting the text. */
function endsWithLowerCase(text: string, end: number, suffix: string): boolean {
  const from = end - suffix.length;
  if (from < 0) return false;
  for (let i = 0; i < suffix.length; i++) if ((text.charCodeAt(from + i) | 0x20) !== suffix.charCodeAt(i)) return false;
  return true;
}

/**
 * After an auth scheme word and its space at `s` (`Bearer x`), else -1. At most LONGEST_AUTH_SCHEME
 * characters are read: a value that is no scheme costs no more.
 */
function authSchemeEnd(text: string, s: number): number {
  let i = s;
  while (i - s <= LONGEST_AUTH_SCHEME && i < text.length && isHeaderChar(text.charCodeAt(i))) i++;
  if (i === s || i - s > LONGEST_AUTH_SCHEME || text.charCodeAt(i) !== 32) return -1;
  return AUTH_SCHEMES.has(lower(text.slice(s, i))) ? i + 1 : -1;
}

/** authSchemeEnd, when credentials follow in the same word (not a blank, a quote or the word's end). */
function credentialsAfterScheme(text: string, s: number): number {
  const at = authSchemeEnd(text, s);
  if (at < 0) return -1;
  const next = text.charCodeAt(at);
  return Number.isNaN(next) || next === 32 || next === 0 || next === 34 || next === 39 || next === 10 ? -1 : at;
}

/** `Name: value` and `"name": "value"` where the name says secret. */
function redactHeaders(text: string): string {
  let out = '';
  let from = 0;
  let colon = text.indexOf(':');
  while (colon >= 0) {
    let nameEnd = colon;
    if (text[nameEnd - 1] === '"' || text[nameEnd - 1] === "'") nameEnd--;
    let nameStart = nameEnd;
    while (nameStart > 0 && nameEnd - nameStart < 64 && isHeaderChar(text.charCodeAt(nameStart - 1))) nameStart--;
    if (nameStart === nameEnd) {
      colon = text.indexOf(':', colon + 1);
      continue;
    }
    const quoted = nameEnd < colon;
    if (quoted) {
      // The opening quote; a name at its word's start only has a closing one, and is not a header.
      if (nameStart === 0 || text.charCodeAt(nameStart - 1) === 0) {
        colon = text.indexOf(':', colon + 1);
        continue;
      }
      nameStart--;
    }
    // A word's start: the text's, or a NUL between joined words.
    const before = nameStart === 0 || text.charCodeAt(nameStart - 1) === 0 ? '' : (text[nameStart - 1] as string);
    const name = text.slice(quoted ? nameStart + 1 : nameStart, nameEnd);
    const atBoundary = nameStart >= from && (before === '' || ' \t\n{,;=(\'"'.includes(before));
    if (name === '' || !atBoundary || !isSecretName(name) || text.startsWith('//', colon + 1)) {
      colon = text.indexOf(':', colon + 1);
      continue;
    }
    let v = colon + 1;
    while (text[v] === ' ' || text[v] === '\t') v++;
    // A quote escaped in a JSON string (`"query": "login(password: \"x\")"`, GraphQL in curl -d): the value ends at its escaped close.
    const escaped = text[v] === '\\' && (text[v + 1] === '"' || text[v + 1] === "'");
    if (escaped) v++;
    const quote = text[v] === '"' || text[v] === "'" ? text[v] : undefined;
    if (quote) v++;
    // Keep the scheme word of an Authorization value readable.
    const afterScheme = authSchemeEnd(text, v);
    if (afterScheme > 0) v = afterScheme;
    let end: number;
    if (quote) {
      end = text.indexOf(escaped ? `\\${quote}` : quote, v);
      const last = wordEnd(text, v);
      if (end < 0 || end > last) end = last;
    } else if (before === '' || before === '\n') {
      // A header given as its own word: the value runs to the end of the word (or line).
      end = text.indexOf('\n', v);
      const last = wordEnd(text, v);
      if (end < 0 || end > last) end = last;
    } else {
      end = searchFrom(HEADER_VALUE_END, text, v);
    }
    if (end > v) {
      out += text.slice(from, v) + REDACTED;
      from = end;
    }
    colon = text.indexOf(':', Math.max(end, colon + 1));
  }
  return from === 0 ? text : out + text.slice(from);
}

/** What ends an unquoted NAME=value value: white space and quotes always, `&` `,` `;` when a name= follows, a NUL (the word's end). */
const VALUE_END_CHARS = [' ', '\t', '\n', '"', "'", '&', ',', ';', '\0'];

/**
 * The first of a few characters at or after a place, each found with indexOf (memchr) and kept
 * until passed: over one text every character is searched for once per occurrence, however many
 * values there are. A regular expression run from each value went character by character
 * (~1.5 ns each), half of the NAME=value rule's time on a 4 KiB argv of secrets.
 */
class NextOf {
  private readonly at: number[];
  private last = 0;

  constructor(private readonly text: string, private readonly chars: readonly string[]) {
    this.at = chars.map(() => -1);
  }

  /** The first place at or after `from` that holds one of the characters, else the text's length. */
  find(from: number): number {
    if (from < this.last) this.at.fill(-1); // places found from further on may skip one before
    this.last = from;
    let first = this.text.length;
    for (let k = 0; k < this.chars.length; k++) {
      let p = this.at[k] as number;
      if (p < from) {
        p = this.text.indexOf(this.chars[k] as string, from);
        if (p < 0) p = this.text.length;
        this.at[k] = p;
      }
      if (p < first) first = p;
    }
    return first;
  }
}

/**
 * A one-time credential in a URL's query: an OAuth authorization code, a reset or login code, a
 * one-time password (`/callback?state=s&code=x`, `?otp=x`). Only after ? or &: `--exit-code=1`
 * and `CODE=x` are no such thing.
 */
function isQuerySecret(text: string, nameStart: number, eq: number): boolean {
  const before = text.charCodeAt(nameStart - 1);
  if ((before !== 63 && before !== 38) || eq - nameStart > 4) return false;
  const name = lower(text.slice(nameStart, eq));
  return name === 'code' || name === 'otp';
}

/** `NAME=value` anywhere in the text, NAME secret-looking. */
function redactAssignments(text: string): string {
  let out = '';
  let from = 0;
  let ends: NextOf | undefined;
  let eq = text.indexOf('=');
  while (eq >= 0) {
    let nameStart = eq;
    while (nameStart > from && eq - nameStart < 128 && isNameChar(text.charCodeAt(nameStart - 1))) nameStart--;
    if (nameStart === eq) {
      // `token = "x"` with blanks around the =, and jq's `.auth.token |= "x"`: a quoted value only.
      const quoted = spacedAssignment(text, from, eq);
      if (quoted !== undefined) {
        const [start, close] = quoted;
        out += text.slice(from, start) + REDACTED;
        from = close;
        eq = text.indexOf('=', close);
        continue;
      }
    }
    if (nameStart === eq || !(isSecretName(text.slice(nameStart, eq)) || isQuerySecret(text, nameStart, eq)) || namesWhereOrHow(text, nameStart, eq)) {
      eq = text.indexOf('=', eq + 1);
      continue;
    }
    let v = eq + 1;
    while (text[v] === '=' || text[v] === ':') v++; // httpie's name==value, name:=value
    ends ??= new NextOf(text, VALUE_END_CHARS);
    let end: number;
    // A header given as name=value (OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer x): the scheme
    // word stays readable, and the credentials after it run past a space.
    const quote = text[v] === '"' || text[v] === "'" ? (text[v] as string) : undefined;
    const afterScheme = credentialsAfterScheme(text, quote === undefined ? v : v + 1);
    if (afterScheme > 0) {
      v = afterScheme;
      if (quote === undefined) end = valueEnd(text, v, ends, 'crossed');
      else {
        const close = text.indexOf(quote, v);
        const last = wordEnd(text, v);
        end = close < 0 || close > last ? last : close;
      }
    } else {
      // The word's own NAME=value (`--password=two words`, `DB_PASSWORD=a b` unquoted): the program
      // reads the rest of the word as the value, blanks and all. In a list (`JAVA_OPTS=-Da=1 -Dpassword=x -Db=2`), to a blank.
      const authorization = eq - nameStart >= AUTHORIZATION.length && endsWithLowerCase(text, eq, AUTHORIZATION);
      end = valueEnd(text, v, ends, authorization ? 'crossed' : leadsItsWord(text, nameStart) ? 'unlessNameFollows' : 'end');
    }
    if (end > v && !isSwitchValue(text, v, end) && !isKeyFileValue(text, v, end)) {
      out += text.slice(from, v) + REDACTED;
      from = end;
    } else end = v;
    eq = text.indexOf('=', end);
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Values that switch a setting on or off (qemu's `-vnc :1,password=on`), compared lower case: no secret. */
const SWITCH_VALUES = new Set(['on', 'off', 'yes', 'no', 'true', 'false']);
function isSwitchValue(text: string, v: number, end: number): boolean {
  return end - v <= 5 && SWITCH_VALUES.has(lower(text.slice(v, end)));
}

/**
 * Is text[v, end) a plain path to a key's, a certificate's or a credentials file (kubelet's
 * `--kubelet-client-key=/etc/k/kc.key`)? Looked at only when a `.` is among its last 9 characters.
 */
function isKeyFileValue(text: string, v: number, end: number): boolean {
  let dot = end - 1;
  while (dot >= v && dot >= end - 9 && text.charCodeAt(dot) !== 46) dot--;
  return dot >= v && dot >= end - 9 && isKeyOrConfigFile(text.slice(v, end));
}

/** How far back from a name the `-flag=` before it is looked for (`--from-literal=password=x`). */
const MAX_FLAG_PREFIX = 128;

/**
 * Does the name at `nameStart` lead its word (the text is words joined with NUL, redactWords): at
 * its start, or after a `-flag=` that is (`--from-literal=password=x`), no blank between? Looked at
 * from the name back, at most MAX_FLAG_PREFIX characters: constant time, whatever the word's length.
 */
function leadsItsWord(text: string, nameStart: number): boolean {
  if (nameStart === 0 || text.charCodeAt(nameStart - 1) === 0) return true;
  if (text.charCodeAt(nameStart - 1) !== 61) return false;
  for (let i = nameStart - 2; i >= 0 && i >= nameStart - MAX_FLAG_PREFIX; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) return false;
    if (c === 0) return text.charCodeAt(i + 1) === 45;
    if (i === 0) return c === 45;
  }
  return false;
}

/**
 * text[nameStart, eq) names where a secret is, not the secret: its last part is file, path or dir
 * (`--key-file=k.json`, Docker's `DB_PASSWORD_FILE=/run/secrets/db`), as `--key-file k.json` is; or
 * where its server is: url, uri, server, host, endpoint (`--os-auth-url=https://keystone/v3`,
 * `--auth-server=h:3025`; a password in a URL is still the URL rule's); or how it is used: mode,
 * type, method (kube-apiserver's `--authorization-mode=Node,RBAC`).
 */
const WHERE_OR_HOW_PARTS = ['file', 'path', 'dir', 'url', 'uri', 'server', 'host', 'endpoint', 'mode', 'type', 'method'];
/** The last letters of WHERE_OR_HOW_PARTS: a name ending otherwise (`--password`, `api_key`) is ruled out at once. */
const WHERE_OR_HOW_LAST_LETTERS = new Set(WHERE_OR_HOW_PARTS.map((part) => part.charCodeAt(part.length - 1)));
function namesWhereOrHow(text: string, nameStart: number, eq: number): boolean {
  if (!WHERE_OR_HOW_LAST_LETTERS.has(text.charCodeAt(eq - 1) | 0x20)) return false;
  for (const part of WHERE_OR_HOW_PARTS) {
    if (eq - nameStart > part.length && endsWithLowerCase(text, eq, part)) {
      const before = text.charCodeAt(eq - part.length - 1);
      if (before === 45 || before === 95 || before === 46) return true;
    }
  }
  return false;
}

/**
 * `NAME = "value"` at the = at `eq` (blanks before it, maybe jq's | or :=), NAME named like a secret
 * and the value quoted: where the value's characters start and where its closing quote is (the
 * text's end when it has none). Unquoted values are left alone: `[ "$mode" = token ]` is a test.
 */
function spacedAssignment(text: string, from: number, eq: number): [start: number, end: number] | undefined {
  let nameEnd = eq;
  const op = text.charCodeAt(nameEnd - 1);
  if (op === 124 || op === 58) nameEnd--; // |=, :=
  const blanksEnd = nameEnd;
  while (nameEnd > from && text.charCodeAt(nameEnd - 1) === 32) nameEnd--;
  if (nameEnd === blanksEnd) return undefined;
  let nameStart = nameEnd;
  while (nameStart > from && nameEnd - nameStart < 128 && isNameChar(text.charCodeAt(nameStart - 1))) nameStart--;
  if (nameStart === nameEnd || !isSecretName(text.slice(nameStart, nameEnd))) return undefined;
  let v = eq + 1;
  if (text.charCodeAt(v) === 61) v++; // ==
  while (text.charCodeAt(v) === 32) v++;
  const quote = text.charAt(v);
  if (quote !== '"' && quote !== "'") return undefined;
  const close = text.indexOf(quote, v + 1);
  return [v + 1, close < 0 ? text.length : close];
}

/**
 * Where a value that starts at `v` ends: a closing quote if it opens with one;
 * else white space, or `&` `,` `;` when another name= follows (query strings,
 * mount options, cookie lists); else the end of the text. `blanks`: 'end' the
 * value, are 'crossed' (an Authorization value: `Custom a b`), or crossed
 * 'unlessNameFollows' (a word's own value, `--password=two words`, but not
 * into the next of a list: `--extra-vars 'vault_pass=x env=prod'`).
 */
function valueEnd(text: string, v: number, ends: NextOf, blanks: 'end' | 'crossed' | 'unlessNameFollows' = 'end'): number {
  const q = text[v];
  if (q === '"' || q === "'") {
    const close = text.indexOf(q, v + 1);
    const last = wordEnd(text, v);
    return close < 0 || close > last ? last : close + 1;
  }
  let i = ends.find(v);
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (blanks !== 'end' && (c === 32 || c === 9)) {
      // Past the run of blanks at once: nameFollows from each of them would read it again (quadratic).
      let next = i + 1;
      while (text.charCodeAt(next) === 32 || text.charCodeAt(next) === 9) next++;
      if (blanks === 'unlessNameFollows' && nameFollows(text, next)) return i;
      i = ends.find(next);
      continue;
    }
    if (c !== 38 && c !== 44 && c !== 59) return i; // white space, a quote or the word's end
    if (nameFollows(text, i + 1)) return i; // & , ; before another name=
    i = ends.find(i + 1);
  }
  return i;
}

function nameFollows(text: string, from: number): boolean {
  let i = from;
  while (text.charCodeAt(i) === 32) i++;
  const start = i;
  while (i < text.length && i - start < 128 && isNameChar(text.charCodeAt(i))) i++;
  return i > start && text.charCodeAt(i) === 61;
}

function redactKnownTokens(text: string): string {
  const starts = tokenStarts(text);
  if (starts.length === 0) return text;
  let out = '';
  let from = 0;
  let scanned = 0;
  for (const [start, length] of starts) {
    if (start < scanned) continue; // inside the body of the token before
    const bodyStart = start + length;
    let end = bodyStart;
    for (let c = text.charCodeAt(end); end < text.length && (isNameChar(c) || c === 61 || c === 43 || c === 47); c = text.charCodeAt(++end));
    if (end - bodyStart >= 12) {
      out += text.slice(from, start) + REDACTED;
      from = end;
    }
    scanned = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** The average word length from which redactWords scans the words joined (measured: 4 KiB argv of 64 words gain, of 600 lose). */
const BLOCK_MIN_AVERAGE_WORD = 16;

/**
 * redactText of every word, in one pass over the words joined with NUL (`joined`, when the caller
 * has it: the decoder's argv block). No rule crosses a NUL, so the result is the same as word by
 * word, which is still how short words go, and words holding a NUL (never argv: C strings).
 */
function redactWords(words: readonly string[], joined?: string): string[] {
  if (words.length === 1) return [redactText(words[0] as string)];
  let length = joined?.length ?? words.length - 1;
  if (joined === undefined) for (const w of words) length += w.length;
  // Short words (`--flag value` × 300) go one by one: most are ruled out by their length alone,
  // where the whole text would be scanned for every `-` and `_` in them and split again after.
  if (length < words.length * BLOCK_MIN_AVERAGE_WORD) return words.map(redactText);
  const text = joined ?? words.join('\0');
  const redacted = redactText(text);
  if (redacted === text) return words.slice();
  const out = redacted.split('\0');
  return out.length === words.length ? out : words.map(redactText);
}

/**
 * The secret `after` words after a subcommand (its words in order, each the next word that is not an
 * option; none: the program itself), counting words that are not options.
 */
function redactPositional(words: readonly string[], k: number, subcommand: readonly string[], after: number, out: string[]): void {
  let j = k;
  for (const part of subcommand) {
    j = words.indexOf(part, j + 1);
    if (j < 0) return;
  }
  let left = after;
  for (j++; j < words.length; j++) {
    if ((words[j] as string).startsWith('-')) continue;
    if (--left === 0) {
      out[j] = REDACTED;
      return;
    }
  }
}

/** An Oracle logon, `user/password@database`, with its password hidden (as it is when it has none). */
function hideLogonPassword(logon: string): string {
  const slash = /^[^/@\s]+\//.exec(logon)?.[0].length ?? 0;
  if (slash === 0 || slash >= logon.length || logon[slash] === '@') return logon;
  const at = logon.indexOf('@', slash);
  return `${logon.slice(0, slash)}${REDACTED}${at < 0 ? '' : logon.slice(at)}`;
}

/** The positional words after words[from], in order: options are skipped, with their value when in `withValue`. */
function positionalsAfter(words: readonly string[], from: number, withValue: ReadonlySet<string>): number[] {
  const found: number[] = [];
  for (let j = from + 1; j < words.length; j++) {
    const w = words[j] as string;
    if (w === '--') {
      for (j++; j < words.length; j++) found.push(j);
      break;
    }
    if (w.charCodeAt(0) === 45 && w.length > 1) {
      if (withValue.has(w)) j++;
      continue;
    }
    found.push(j);
  }
  return found;
}

/** A key's last part, split at / . and : (`app/db/password`, `aws:dbPassword`): what says whether it names a secret. */
function lastNamePart(key: string): string {
  return key.split(/[/.:]/).pop() ?? '';
}

/**
 * Where the command of `docker exec|run [options] CONTAINER|IMAGE COMMAND…` starts, from its first
 * option at `from`: options are skipped with their value (a short option or a long one not known to
 * take none, unless written --flag=value), then the container or image.
 */
function containerCommand(words: readonly string[], from: number): number {
  let i = from;
  while (i < words.length) {
    const w = words[i] as string;
    if (w === '--') return i + 1;
    if (!w.startsWith('-') || w === '-') break;
    const long = w.startsWith('--');
    // -e X, --env X, --name X take a value; -it, -d, --rm, --env=X do not.
    const takesValue = long ? !w.includes('=') && !CONTAINER_BOOLEAN_FLAGS.has(w) : w.length === 2 && 'evpuwhlmca'.includes(w.charAt(1));
    i += takesValue ? 2 : 1;
  }
  return i + 1; // past the container or image
}

/** Is there, after words[k], a short-option word whose leading letters hold `letter` (`-b`, `-bc`, `-rs`)? The test of /^-[a-zA-Z]*X/. */
function hasOptionLetter(words: readonly string[], k: number, letter: string): boolean {
  const code = letter.charCodeAt(0);
  for (let j = k + 1; j < words.length; j++) {
    const w = words[j] as string;
    if (w.charCodeAt(0) !== 45) continue;
    for (let i = 1; i < w.length; i++) {
      const c = w.charCodeAt(i);
      if (c === code) return true;
      if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) break;
    }
  }
  return false;
}

/** `-abc`: single-dash options, letters only, more than one. */
function isLetterCluster(word: string): boolean {
  return word.length > 2 && /^-[A-Za-z]+$/.test(word);
}

/** Programs that take ssh's -o options. */
const SSH_CLIENTS = new Set(['ssh', 'autossh', 'scp', 'sftp']);
/** `-o ProxyCommand=…` (ssh), `-e …` and `--rsh=…` (rsync): the option and its value if it is a shell command, else undefined. */
const COMMAND_OPTION = /^(?:-o ?ProxyCommand[= ]|ProxyCommand[= ]|--rsh=)/i;

/** Rewrites the shell commands given as option values (see COMMAND_OPTION) with `asLine`. */
function redactCommandOptions(words: readonly string[], k: number, rsync: boolean, out: string[], asLine: (script: string) => string): void {
  for (let j = k + 1; j < words.length; j++) {
    const w = words[j] as string;
    if (rsync && (w === '-e' || w === '--rsh') && j + 1 < words.length) {
      out[j + 1] = asLine(words[j + 1] as string);
      j++;
      continue;
    }
    // ssh -o 'ProxyCommand=…' takes its value as the next word; -oProxyCommand=… and --rsh=… glue it.
    if (w.charCodeAt(0) !== 45 || (w.charCodeAt(1) !== 111 && !(rsync && w.startsWith('--rsh=')))) continue; // -o…, --rsh=
    const value = w === '-o' && j + 1 < words.length ? (words[j + 1] as string) : w;
    const m = COMMAND_OPTION.exec(value);
    if (m === null || (value === w && !w.startsWith('-'))) continue;
    const at = value === w ? j : j + 1;
    out[at] = `${m[0]}${asLine(value.slice(m[0].length))}`;
    if (at > j) j++;
  }
}

/** The program's place in a simple command: after shell keywords and NAME=value assignments. */
function programIndex(words: readonly string[]): number {
  let k = 0;
  while (k < words.length && (KEYWORDS.has(words[k] as string) || (words[k] as string).includes('=') && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(words[k] as string))) k++;
  return k;
}

/** What a command reads on standard input (stdinOf's bits): a password, a shell script, crontab lines. */
const STDIN_PASSWORD = 1;
const STDIN_SHELL = 2;
const STDIN_CRON = 4;

/**
 * What this simple command reads on standard input, as STDIN_* bits (0: nothing of these).
 * `hereStrings`: its words that are here-strings (what it reads, not arguments), if any.
 */
function stdinOf(words: readonly string[], hereStrings: readonly boolean[] | undefined): number {
  let k = programIndex(words);
  let bits = 0;
  // Through wrappers (`sudo chpasswd`, `echo x | sudo passwd --stdin kim`): the standard input
  // is the wrapped command's, and the wrapper's own flags may say a password comes (`sudo -S`).
  for (let chain = 0; k < words.length; chain++) {
    // Every simple command of every line comes here (2,000 in a 4 KiB `a;a;…`): the program's name is cut out once.
    const tool = baseName(words[k] as string);
    if (readsPasswordOnStdin(words, k, tool, hereStrings !== undefined)) bits |= STDIN_PASSWORD;
    const wrapper = chain < MAX_CHAIN ? wrapperOf(words, k, tool) : undefined;
    if (wrapper === undefined) return bits | runsStdin(words, k, tool, hereStrings);
    k = wrappedCommandIndex(words, k, wrapper);
  }
  return bits;
}

/**
 * Does this command read a password on standard input: a --password-stdin flag (docker login, helm,
 * gpg's --passphrase-fd), `sudo -S`, passwd, chpasswd (`user:password` lines)?
 */
function readsPasswordOnStdin(words: readonly string[], k: number, tool: string, hereStrings: boolean): boolean {
  if (STDIN_SECRET_READERS.has(tool)) return true;
  // wg pubkey (a private key in), htpasswd -i, sshfs -o password_stdin, openssl -passin stdin.
  if (tool === 'wg' && words[k + 1] === 'pubkey') return true;
  // ssh-add - (a private key on standard input).
  if (tool === 'ssh-add' && words.indexOf('-', k + 1) > k) return true;
  // ansible-vault encrypt_string (the string on stdin when none is given); a secret's file that is
  // standard input (kubeseal --from-file=/dev/stdin, kubectl create secret … --from-file=k=/dev/stdin).
  if (tool === 'ansible-vault' && words.indexOf('encrypt_string', k + 1) > k) return true;
  // elasticsearch-keystore add -x NAME (opensearch's too): the value on standard input.
  if ((tool === 'elasticsearch-keystore' || tool === 'opensearch-keystore') && words[k + 1] === 'add') return true;
  if ((tool === 'kubeseal' || words.indexOf('secret', k + 1) > k) && words.some((w, j) => j > k && w.endsWith('/dev/stdin'))) return true;
  // read -s (silent: a password typed or given as a here-string), vercel env add NAME ENV (the value on stdin).
  if (tool === 'read' && hasOptionLetter(words, k, 's')) return true;
  // read -r TOKEN <<< x, IFS=: read -r user pass, mapfile -t keys: what is read into a variable named like a secret.
  if ((tool === 'read' || tool === 'mapfile' || tool === 'readarray') && words.some((w, j) => j > k && !w.startsWith('-') && /^[A-Za-z_][A-Za-z0-9_]*$/.test(w) && isSecretName(w))) return true;
  if (tool === 'vercel' && words[k + 1] === 'env' && words[k + 2] === 'add') return true;
  if (tool === 'llm' && words[k + 1] === 'keys' && words[k + 2] === 'set') return true; // llm keys set NAME: the key on standard input
  if (tool === 'circleci' && words.indexOf('store-secret', k + 1) > k) return true; // circleci context store-secret ORG CTX NAME
  // terraform login HOST (tofu too), hcloud context create NAME: the token they prompt for.
  if ((tool === 'terraform' || tool === 'tofu') && words[k + 1] === 'login') return true;
  if (tool === 'hcloud' && words[k + 1] === 'context' && words[k + 2] === 'create') return true;
  // borg init, borg key change-passphrase: the passphrase they prompt for.
  if (tool === 'borg' && (words[k + 1] === 'init' || words[k + 1] === 'key')) return true;
  // flutter pub token add URL (dart's): the token it prompts for.
  if ((tool === 'flutter' || tool === 'dart') && words[k + 1] === 'pub' && words[k + 2] === 'token' && words[k + 3] === 'add') return true;
  if (tool === 'pveum' && (words[k + 1] === 'passwd' || (words[k + 1] === 'user' && words[k + 2] === 'password'))) return true; // Proxmox
  // What is encrypted or encoded from standard input: age, gpg -e/-c, openssl enc, base64 (a Kubernetes secret's value), not when they decode.
  if ((tool === 'age' || tool === 'base64' || (tool === 'openssl' && words[k + 1] === 'enc')) && !words.some((w, j) => j > k && DECODE_FLAGS.has(w))) return true;
  // What is hashed from standard input (`echo -n x | sha256sum`): a literal typed to be hashed is a password's habit.
  if (HASHERS.has(tool) || (tool === 'openssl' && words[k + 1] === 'dgst')) return true;
  if (tool === 'gpg' && words.some((w, j) => j > k && GPG_ENCRYPT_FLAGS.has(w))) return true;
  // tee ~/.config/app/api_key, systemd-creds encrypt - OUT: what comes in is written to a secret's file.
  if (tool === 'tee' && words.some((w, j) => j > k && !w.startsWith('-') && isSecretPath(w))) return true;
  if (tool === 'systemd-creds' && words[k + 1] === 'encrypt' && words.indexOf('-', k + 2) > k) return true;
  // pass and gopass insert, secret-tool store: the secret on standard input when it is not a terminal.
  if ((tool === 'pass' || tool === 'gopass') && (words[k + 1] === 'insert' || words[k + 1] === 'add')) return true;
  if (tool === 'secret-tool' && words[k + 1] === 'store') return true;
  if (tool === 'op' && words[k + 1] === 'signin') return true; // 1Password's account password
  // gh secret set NAME, wrangler secret put NAME, firebase functions:secrets:set NAME: the value on standard input (without --body).
  if ((tool === 'gh' && words[k + 1] === 'secret' && words[k + 2] === 'set') || (tool === 'wrangler' && words[k + 1] === 'secret' && words[k + 2] === 'put')) return true;
  if (tool === 'firebase' && words[k + 1] === 'functions:secrets:set') return true;
  if (tool === 'htpasswd' && hasOptionLetter(words, k, 'i')) return true;
  if (tool === 'sshfs' && words.some((w, j) => j > k && w.includes('password_stdin'))) return true;
  if (tool === 'openssl' && words.some((w, j) => j > k && (w === 'stdin' || w === 'fd:0') && /^-pass/.test(words[j - 1] as string))) return true;
  // docker secret create NAME - and gcloud secrets … --data-file=-: the secret is read from standard input.
  const dash = words[words.length - 1] === '-' || (hereStrings && words.indexOf('-', k + 1) > k); // `create NAME - <<< x`: the here-string is a word too
  if (dash && words.indexOf('secret', k + 1) > k && words.indexOf('create', k + 1) > k) return true;
  if (words.indexOf('--data-file=-', k + 1) > k && words.indexOf('secrets', k + 1) > k) return true;
  for (let j = k + 1; j < words.length; j++) {
    const w = words[j] as string;
    if (w.length <= LONGEST_PASSWORD_STDIN_FLAG && PASSWORD_STDIN_FLAGS.has(w)) return true;
    if (w === '-S' && tool === 'sudo') return true;
  }
  return false;
}

/**
 * Does this command run what it reads on standard input (STDIN_SHELL, STDIN_CRON): a shell with no
 * script file and no -c (`echo 'mysql -px' | bash`, `bash -s`), `at`, `batch`, ssh with a host and
 * no remote command, `crontab -`? Here-strings are what it reads, not its arguments.
 */
function runsStdin(words: readonly string[], k: number, tool: string, hereStrings: readonly boolean[] | undefined): number {
  if (tool === 'crontab') return words.indexOf('-', k + 1) > k ? STDIN_CRON : 0;
  if (tool === 'at' || tool === 'batch') return words.indexOf('-f', k + 1) > k ? 0 : STDIN_SHELL;
  // ftp's commands (`ftp -n <<< 'user kim x'`) are words, as a shell's are: the rules' `user NAME PASSWORD` applies.
  if (FTP_CLIENTS.has(tool)) return STDIN_SHELL;
  const shell = SHELLS.has(tool);
  if (!shell && tool !== 'ssh' && tool !== 'autossh') return 0;
  let positionals = 0;
  for (let j = k + 1; j < words.length; j++) {
    if (hereStrings?.[j] === true) continue;
    const w = words[j] as string;
    if (shell && (w === '-s' || /^-[a-zA-Z]*c/.test(w))) return w === '-s' ? STDIN_SHELL : 0; // bash -s reads stdin; -c runs its argument
    if (w.charCodeAt(0) === 45) {
      if (!shell && SSH_WITH_VALUE.has(w)) j++;
    } else positionals++;
  }
  // A shell with a script file runs that; ssh with a command after the host runs that.
  return positionals === (shell ? 0 : 1) ? STDIN_SHELL : 0;
}

/** Crontab lines: the command after the five time fields (or an @reboot-style one) as a script; other lines (NAME=value) as lines. */
function redactCronLines(text: string, asLine: (script: string) => string): string {
  return text.split('\n').map((entry) => {
    if (entry.trimStart().startsWith('#')) return entry;
    const m = /^(\s*(?:@[A-Za-z]+|\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+)(.*)$/.exec(entry);
    return m === null ? asLine(entry) : `${m[1] as string}${asLine(m[2] as string)}`;
  }).join('\n');
}

/**
 * A file named like a secret, by its last path part (`~/.vault-token`, `/run/secrets/db_password`,
 * `api_key.txt`); a public key's is not (`authorized_keys`, `id_ed25519.pub`).
 */
function isSecretPath(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name === '' || name.endsWith('.pub') || name.endsWith('authorized_keys') || name.endsWith('known_hosts')) return false;
  return isSecretName(name);
}

/** The words this command redirects its output into (`> f`, `>> f`), when one is a file named like a secret; else undefined. */
function secretFileTargets(text: string, words: readonly Word[]): Set<number> | undefined {
  let targets: Set<number> | undefined;
  let secret = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as Word;
    let before = w.start - 1;
    while (before >= 0 && (text.charCodeAt(before) === 32 || text.charCodeAt(before) === 9)) before--;
    if (text.charCodeAt(before) !== 62) continue; // >
    (targets ??= new Set()).add(i);
    if (isSecretPath(w.value)) secret = true;
  }
  return secret ? targets : undefined;
}

/** What a command that runs its standard input makes of a text written into it: a script, or crontab lines. */
type StdinScript = typeof STDIN_SHELL | typeof STDIN_CRON;

/**
 * An echo's, printf's or yes's words (not its options) rewritten: what it writes into the command
 * it is piped to. `rewrite` gets the word and what the rules made of it so far.
 */
function rewriteEchoed(words: readonly string[], out: string[], rewrite: (word: string, redacted: string, index: number) => string): void {
  const k = programIndex(words);
  if (k >= words.length || !ECHOES.has(baseName(words[k] as string))) return;
  for (let j = k + 1; j < words.length; j++) if (!(words[j] as string).startsWith('-')) out[j] = rewrite(words[j] as string, out[j] as string, j);
}

/** A test's comparison operators. */
const COMPARISONS = new Set(['=', '==', '!=']);
/** `$NAME` or `${NAME}`, NAME named like a secret. */
function isSecretReference(word: string): boolean {
  const m = /^\$\{?([A-Za-z_][A-Za-z0-9_]{0,127})\}?$/.exec(word);
  return m !== null && isSecretName(m[1] as string);
}
function secretComparison(words: readonly string[], k: number, out: string[]): void {
  for (let j = k + 1; j + 2 < words.length; j++) {
    if (!COMPARISONS.has(words[j + 1] as string)) continue;
    if (isSecretReference(words[j] as string)) out[j + 2] = REDACTED;
    else if (isSecretReference(words[j + 2] as string)) out[j] = REDACTED;
  }
}

/** QEMU's programs that take `-object secret,…`. */
const QEMU_TOOLS = ['qemu-system-x86_64', 'qemu-system-aarch64', 'qemu-system-arm', 'qemu-system-riscv64', 'qemu-system-ppc64', 'qemu-system-s390x', 'qemu-kvm', 'qemu-img', 'qemu-nbd', 'qemu-storage-daemon'];
function qemuSecretObjects(words: readonly string[], k: number, out: string[]): void {
  for (let j = k + 1; j < words.length; j++) {
    const w = words[j] as string;
    if (!w.startsWith('secret,') || !w.includes('data=')) continue;
    out[j] = w.split(',').map((part) => (part.startsWith('data=') ? `data=${REDACTED}` : part)).join(',');
  }
}

/** A Vault path of a PKI engine's issuing or signing endpoint: `pki/issue/ROLE`, `pki_int/sign/ROLE`, `pki/roles/ROLE`. */
function isPkiPath(word: string): boolean {
  return /^pki[\w-]*\/(?:issue|sign|sign-verbatim|roles|root\/generate|intermediate\/generate)\b/.test(word);
}

/**
 * A listed tool's glued secret flag after the tool's name, whatever runs it (`newwrapper mysql -px`):
 * what a wrapper not in WRAPPERS would leave. Glued only: `--name mysql -p 3306:3306` is a port.
 * Its own function: command() is past what V8 inlines well, and each line there costs all its words.
 */
function hideGluedAfterToolNames(words: readonly string[], k: number, out: string[]): void {
  for (let j = k + 1; j + 1 < words.length; j++) {
    // The next word a short flag with more to it, before the lookup: most words are followed by none.
    const next = words[j + 1] as string;
    if (next.charCodeAt(0) !== 45 || next.charCodeAt(1) === 45 || next.length < 3) continue;
    const w = words[j] as string;
    if (w.charCodeAt(0) === 45) continue;
    // The program's name as typed (the tools' names are lower case): what follows its last /, without path.basename.
    const name = w.includes('/') ? w.slice(w.lastIndexOf('/') + 1) : w;
    if (name.length > LONGEST_SECRET_TOOL || NAME_TESTS.has(words[j - 1] as string)) continue;
    const glued = SHORT_SECRET_FLAGS.get(name)?.find((f) => next.length > f.length && next.startsWith(f));
    if (glued !== undefined) out[j + 1] = `${glued}${REDACTED}`;
  }
}

/** What `yes` is given to answer a prompt, not to type a password. */
const YES_ANSWERS = new Set(['y', 'n', 'yes', 'no', '']);

/**
 * A rule of one tool: its words (the program at `k`), what the rules made of them so far (`out`,
 * written to), and `script` to redact a word that is a command line.
 */
type ToolRule = (words: readonly string[], k: number, out: string[], script: (text: string) => string) => void;

/** What a key's or a certificate's file name ends with (`cfssl -ca-key ca-key.pem`). */
const KEY_FILE = /\.(?:pem|key|crt|cer|der|csr|p8|p12|pfx|jks|keystore|pub|asc|gpg|kdbx)$/i;
/** What a credentials or config file's name ends with: taken for one with a directory only (`~/.secrets/cf.ini`; `x.txt` alone may be typed as a password). */
const CONFIG_FILE = /\.(?:json|ini|ya?ml|toml|conf|cfg|env|txt|csv)$/i;
/** A plain path (isPlainPath) to such a file: a secret flag given one names where the secret is. */
function isKeyOrConfigFile(word: string): boolean {
  return word.length <= 4096 && (KEY_FILE.test(word) || (word.includes('/') && CONFIG_FILE.test(word))) && isPlainPath(word);
}

/**
 * Is the value of secret flag `flag` a file's name, not the secret? curl's --key and --proxy-key
 * (`keyFlags`: and kubectl create secret tls's) name a private key's file (its passphrase is
 * --pass, a secret flag), geth's --password a password file, and any secret flag given a key's,
 * a certificate's or a credentials file's plain path names where the secret is.
 */
function secretFlagNamesAFile(flag: string, next: string | undefined, tool: string, keyFlags: boolean): boolean {
  if (keyFlags && (flag === '--key' || flag === '--proxy-key')) return true;
  return next !== undefined && ((tool === 'geth' && flag === '--password' && isPlainPath(next)) || isKeyOrConfigFile(next));
}

/** A file's path that no text rule changes (`tls.key`, `/etc/ssl/k.pem`): shown as typed. */
function isPlainPath(value: string): boolean {
  return value.length > 0 && value.length <= 4096 && /^[A-Za-z0-9_./~-]+$/.test(value) && redactText(value) === value;
}

/** A build secret's description (`id=npm,env=NPM_TOKEN`, `id=k,src=./k.txt`, `type=ssh`): names and places, and nothing the text rules would hide. */
const BUILD_SECRET_SPEC = /^(?:id|src|source|env|type|target|required|mode|uid|gid)=[A-Za-z0-9_./~-]*(?:,(?:id|src|source|env|type|target|required|mode|uid|gid)=[A-Za-z0-9_./~-]*)*$/;
function isBuildSecretSpec(value: string): boolean {
  return value.length <= 256 && BUILD_SECRET_SPEC.test(value) && redactText(value) === value;
}

/** The name an XPath ends with: `//db/password` and `/c/@password` and `//u[@id="1"]/token` name password, password, token. */
function lastXmlName(xpath: string): string {
  const step = xpath.replace(/\[[^\]]*\]/g, '').split('/').pop() ?? '';
  return step.startsWith('@') ? step.slice(1) : step;
}
/** xmlstarlet ed: -u XPATH and -n NAME say which node the next -v VALUE goes into. */
const xmlNodeValues: ToolRule = (words, k, out) => {
  let node: string | undefined;
  for (let j = k + 1; j + 1 < words.length; j++) {
    const w = words[j] as string;
    if (w === '-u' || w === '--update' || w === '-n' || w === '--name') node = words[j + 1];
    else if ((w === '-v' || w === '--value') && node !== undefined && isSecretName(lastXmlName(node))) out[j + 1] = REDACTED;
  }
};

/** salt '*' cmd.run 'cmd': a command line run on the minions. */
const saltRule: ToolRule = (words, k, out, script) => {
  for (let j = k + 1; j + 1 < words.length; j++) if (SALT_SHELL_FUNCTIONS.has(words[j] as string)) out[j + 1] = script(words[j + 1] as string);
};

/**
 * `user:password@host` positionals (and the value of `flag`, when given) with the password hidden;
 * `user` matches what may stand before the colon. A URL (`://`) is rule 5's.
 */
function userPasswordAtHost(user: RegExp, flag?: string): ToolRule {
  const logon = new RegExp(`^(${user.source}):([^@\\s]+)@`);
  return (words, k, out) => {
    for (let j = k + 1; j < words.length; j++) {
      const w = out[j] as string;
      const from = flag !== undefined && w.startsWith(flag) ? flag.length : 0;
      if (w.includes('://') || (from === 0 && w.startsWith('-'))) continue;
      const m = logon.exec(w.slice(from));
      if (m !== null) out[j] = `${w.slice(0, from)}${m[1] as string}:${REDACTED}${w.slice(from + m[0].length - 1)}`;
    }
  };
}
/** impacket's `[domain/]user:password@host`, curlftpfs's `user:password@host`. */
const DOMAIN_USER_AT_HOST = userPasswordAtHost(/[^\s:@]+/);

/** zkCli.sh addauth digest user:password (ZooKeeper). */
const zookeeperRule: ToolRule = (words, k, out) => {
  const digest = words.indexOf('digest', k + 1);
  const credentials = digest > k && words[digest - 1] === 'addauth' ? (words[digest + 1] ?? '') : '';
  const colon = credentials.indexOf(':');
  if (colon > 0) out[digest + 1] = `${credentials.slice(0, colon + 1)}${REDACTED}`;
};

/** Every positional after the program (options in `withValue` skipped with their value) is a secret. */
function positionalsHidden(withValue: ReadonlySet<string>): ToolRule {
  return (words, k, out) => {
    for (const j of positionalsAfter(words, k, withValue)) out[j] = REDACTED;
  };
}

const TOOL_RULES = byTool<ToolRule>({
  // qemu -object secret,id=s0,data=x (qemu-img --object too): a secret object's data.
  ...Object.fromEntries(QEMU_TOOLS.map((t) => [t, qemuSecretObjects])),
  // deluge-console "connect HOST USER PASSWORD": its commands, one word each.
  // Dovecot's doveadm auth test|login [options] USER PASSWORD: the word after the user.
  doveadm: (words, k, out) => {
    const auth = words.indexOf('auth', k + 1);
    if (auth < 0 || (words[auth + 1] !== 'test' && words[auth + 1] !== 'login')) return;
    const password = positionalsAfter(words, auth + 1, DOVEADM_AUTH_WITH_VALUE)[1];
    if (password !== undefined) out[password] = REDACTED;
  },
  'deluge-console': (words, k, out) => {
    for (let j = k + 1; j < words.length; j++) {
      const w = words[j] as string;
      const connect = /^connect\s+\S+\s+\S+\s+([^\s;]+)/.exec(w);
      if (connect !== null) out[j] = `${connect[0].slice(0, -(connect[1] as string).length)}${REDACTED}${w.slice(connect[0].length)}`;
    }
  },
  // yes WORD | passwd: what yes repeats is typed into the program after it. Its usual answers stay readable.
  yes: (words, k, out) => {
    for (let j = k + 1; j < words.length; j++) if (!YES_ANSWERS.has(lower(words[j] as string))) out[j] = REDACTED;
  },
  // unixODBC's isql [-v -b …] DSN USER PASSWORD (its options are single words). Sybase's isql has -U -P -S instead (-P: SHORT_SECRET_FLAGS).
  isql: (words, k, out) => {
    if (words.some((w, j) => j > k && /^-[UPS]/.test(w))) return;
    const password = positionalsAfter(words, k, NO_NAMES)[2];
    if (password !== undefined) out[password] = REDACTED;
  },
  // fish's set -gx NAME VALUE… (its scope and export flags first; SQL's SET has none): a secret-named variable's values.
  set: (words, k, out) => {
    let j = k + 1;
    while (j < words.length && /^-[a-zA-Z]+$/.test(words[j] as string)) j++;
    if (j > k + 1 && j + 1 < words.length && isSecretName(words[j] as string)) for (j++; j < words.length; j++) out[j] = REDACTED;
  },
  salt: saltRule,
  'salt-call': saltRule,
  'salt-ssh': saltRule,
  // ansible HOSTS [-m command|shell|raw] -a 'cmd': a command line (other modules' key=value args go by the text rules).
  ansible: (words, k, out, script) => {
    const m = Math.max(words.indexOf('-m', k + 1), words.indexOf('--module-name', k + 1));
    if (m >= 0 && !ANSIBLE_COMMAND_MODULES.has(words[m + 1] as string)) return;
    for (let j = k + 1; j + 1 < words.length; j++) if (words[j] === '-a' || words[j] === '--args') out[j + 1] = script(words[j + 1] as string);
  },
  curlftpfs: DOMAIN_USER_AT_HOST,
  // mysqlsh user:password@host[:port], as --uri or a positional (with a scheme it is a URL: rule 5).
  mysqlsh: userPasswordAtHost(/[^\s:@/]+/, '--uri='),
  // net use \\host\share PASSWORD /user:NAME (Samba's net, Windows habits): the word after the share.
  net: (words, k, out) => {
    if (words[k + 1] !== 'use') return;
    const share = words.findIndex((w, j) => j > k + 1 && (w.startsWith('\\\\') || w.startsWith('//')));
    const password = share > 0 ? words[share + 1] : undefined;
    if (password !== undefined && !password.startsWith('/') && !password.startsWith('-')) out[share + 1] = REDACTED;
  },
  // ConvertTo-SecureString 'x' -AsPlainText (PowerShell): the string; as -String x too.
  'convertto-securestring': positionalsHidden(SECURE_STRING_WITH_VALUE),
  'zkcli.sh': zookeeperRule,
  zkcli: zookeeperRule,
  'zookeeper-shell': zookeeperRule,
  // bundle config [set] [--global] HOST user:password (or a token): a gem server's credentials.
  bundle: (words, k, out) => {
    if (words[k + 1] !== 'config') return;
    const [key, value] = positionalsAfter(words, k + 1, NO_NAMES).filter((j) => words[j] !== 'set');
    const name = key === undefined ? '' : (words[key] as string);
    if (value !== undefined && name.includes('.') && !/^(?:build|mirror|local)\./.test(name)) out[value] = REDACTED;
  },
  // sops --set '["db"]["password"] "x"': a value written into an encrypted file is a secret, whatever its key.
  sops: (words, k, out) => {
    for (let j = k + 1; j < words.length; j++) {
      const w = words[j] as string;
      const at = w === '--set' ? j + 1 : w.startsWith('--set=') ? j : -1;
      const value = at < 0 ? undefined : words[at];
      const path = value === undefined ? undefined : /^(--set=)?\s*((?:\[[^\]]*\])+)\s*/.exec(value);
      if (path && path[0].length < (value as string).length) out[at] = `${path[0]}${REDACTED}`;
    }
  },
  // sed 's/password: .*/password: x/': an s command's replacement that sets a key named like a secret.
  sed: (words, k, out) => {
    for (let j = k + 1; j < words.length; j++) {
      const w = words[j] as string;
      if (out[j] !== w || w.length < 4 || w.charCodeAt(0) !== 115 || isAlnum(w.charCodeAt(1)) || w.charCodeAt(1) === 92) continue; // s, then its delimiter
      const parts = w.split(w.charAt(1));
      const replacement = parts[2];
      const set = replacement === undefined || parts.length < 4 ? null : /([A-Za-z0-9_.-]+)(["']?\s*[:=]\s*)\S/.exec(replacement);
      if (set === null || !isSecretName(set[1] as string)) continue;
      const kept = (set.index ?? 0) + (set[1] as string).length + (set[2] as string).length;
      out[j] = [parts[0], parts[1], `${replacement.slice(0, kept)}${REDACTED}`, ...parts.slice(3)].join(w.charAt(1));
    }
  },
  // oathtool [--totp] [options] KEY [OTP]: a TOTP/HOTP key, and a one-time password to check.
  oathtool: positionalsHidden(OATHTOOL_WITH_VALUE),
  // tpm2-tools: -p and -P are authorization values (their long names end in auth: the flag rule); tpm2_changeauth's new one is positional.
  tpm2_changeauth: positionalsHidden(TPM2_CHANGEAUTH_WITH_VALUE),
  // alias NAME='a command line': the command line's rules.
  alias: (words, k, out, script) => {
    for (let j = k + 1; j < words.length; j++) {
      const w = words[j] as string;
      const eq = w.indexOf('=');
      if (eq <= 0) continue;
      const value = w.slice(eq + 1);
      const redacted = script(value);
      if (redacted !== value) out[j] = `${w.slice(0, eq + 1)}${redacted}`;
    }
  },
  // bw send [options] TEXT (Bitwarden Send): the text, unless a file is sent (-f).
  bw: (words, k, out) => {
    if (words[k + 1] !== 'send' || words.includes('-f') || words.includes('--file')) return;
    for (const j of positionalsAfter(words, k + 1, BW_SEND_WITH_VALUE)) out[j] = REDACTED;
  },
  // cvs -d :pserver:USER:PASSWORD@HOST:/repo: the password in the root.
  cvs: (words, k, out) => {
    for (let j = k + 1; j < words.length; j++) {
      const m = /^((?:-d)?:pserver:[^:@/]*:)[^@]+(@.*)$/.exec(out[j] as string);
      if (m) out[j] = `${m[1] as string}${REDACTED}${m[2] as string}`;
    }
  },
  // microk8s join HOST:PORT/TOKEN[/HASH]: what follows the address is the join token.
  microk8s: (words, k, out) => {
    const join = words.indexOf('join', k + 1);
    const address = join > k ? positionalsAfter(words, join, NO_NAMES)[0] : undefined;
    const slash = address === undefined ? -1 : (words[address] as string).indexOf('/');
    if (address !== undefined && slash > 0) out[address] = `${(words[address] as string).slice(0, slash + 1)}${REDACTED}`;
  },
  // xmlstarlet ed -u XPATH -v VALUE (-s/-i/-a … -n NAME -v VALUE): the value, when the node's name says secret.
  xmlstarlet: xmlNodeValues,
  xml: xmlNodeValues,
  // printf 'password=%s\n' x: a format the rules hid something in fills it from the arguments; so does one
  // printf -v puts in a variable named like a secret (`printf -v PGPASSWORD '%s' x`).
  printf: (words, k, out) => {
    let format = k + 1;
    let intoSecret = false;
    while (format < words.length && (words[format] as string).startsWith('-') && words[format] !== '--') {
      if (words[format] === '-v') intoSecret ||= format + 1 < words.length && isSecretName(words[format + 1] as string);
      format += words[format] === '-v' ? 2 : 1;
    }
    if (words[format] === '--') format++;
    if (format < words.length && (intoSecret || (out[format] !== words[format] && (words[format] as string).includes('%')))) for (let j = format + 1; j < words.length; j++) out[j] = REDACTED;
  },
  // [ "$PW" = x ], [[ $TOKEN == x ]], test: the literal a variable named like a secret is compared with.
  '[': secretComparison,
  '[[': secretComparison,
  test: secretComparison,
  // case "$PW" in x) …: the first pattern a variable named like a secret is matched against.
  case: (words, k, out) => {
    if (isSecretReference(words[k + 1] as string) && words[k + 2] === 'in') for (let j = k + 3; j < words.length; j++) out[j] = REDACTED;
  },
});

export function createRedactor(enabled: boolean, userPatterns: readonly UserPattern[] = []): Redactor {
  const user = (text: string): string => {
    let out = text;
    for (const p of userPatterns) out = p.replace(out, REDACTED);
    return out;
  };

  const recentText = new RecentArgvText(redactWords, redactText);

  /** Commands left to read in the argv or line being redacted (MAX_COMMANDS at each entry point below). */
  let commandsLeft = MAX_COMMANDS;

  /**
   * A typed line or a script argument. A variable whose use was redacted
   * (`curl -u "$U"`) has its assignment in the same line redacted too
   * (`U=bob:x; …`): a second pass with those names. `printsSecret`: what the script prints is a
   * secret (restic's --password-command, a key file given as `<(echo x)`).
   */
  const line = (text: string, depth: number, printsSecret = false): string => {
    if (depth > MAX_DEPTH) return REDACTED;
    if (commandsLeft <= 0) return text === '' ? text : REDACTED;
    // One plain word (`a` in `$(a)`, a script's last word): only the text rules can apply (no flag,
    // no second word for a tool rule), so the split and the rounds below are skipped.
    if (text.charCodeAt(0) !== 45 && isPlainWord(text)) {
      commandsLeft--;
      const redacted = redactText(text);
      return redacted === text ? text : quoteWord(redacted, false);
    }
    // Loops rather than map/forEach closures, and no Set until a name is tainted: a script
    // argument (sh -c) of 4 KiB can hold 2,000 commands, each one a round of this.
    const { commands, end } = splitCommandsUpTo(text, commandsLeft);
    commandsLeft -= commands.length;
    // Past the budget: the rest of the text is not read, and is hidden (only separators and blanks left is nothing to hide).
    const hiddenTail = end < text.length && /[^\s;&|()]/.test(text.slice(end));
    const valuesOf: string[][] = new Array<string[]>(commands.length);
    let readsPassword = printsSecret;
    // The first command of the line that runs its standard input gets what echo writes.
    let echoedScript: StdinScript | undefined;
    /** The here-strings of the command being looked at (undefined: it has none), for stdinOf. */
    const hereStringsOf = (words: readonly Word[]): boolean[] | undefined => (words.some((w) => w.hereString) ? words.map((w) => w.hereString) : undefined);
    for (let c = 0; c < commands.length; c++) {
      const words = commands[c] as Word[];
      const values = new Array<string>(words.length);
      let hereStrings = false;
      for (let i = 0; i < words.length; i++) {
        values[i] = (words[i] as Word).value;
        if ((words[i] as Word).hereString) hereStrings = true;
      }
      valuesOf[c] = values;
      const stdin = stdinOf(values, hereStrings ? hereStringsOf(words) : undefined);
      if (stdin & STDIN_PASSWORD) readsPassword = true;
      if (echoedScript === undefined && stdin & (STDIN_SHELL | STDIN_CRON)) echoedScript = stdin & STDIN_CRON ? STDIN_CRON : STDIN_SHELL;
    }
    const asScript = (kind: StdinScript, text: string): string => (kind === STDIN_CRON ? redactCronLines(text, (script) => line(script, depth + 1)) : line(text, depth + 1));
    /** A here-string written into a command that runs it (`bash <<< 'cmd'`, `at now <<< 'cmd'`): what it runs. */
    const hereScript = (words: readonly Word[], values: readonly string[], text: string): string | undefined => {
      const runs = stdinOf(values, hereStringsOf(words)) & (STDIN_SHELL | STDIN_CRON);
      return runs === 0 ? undefined : asScript(runs & STDIN_CRON ? STDIN_CRON : STDIN_SHELL, text);
    };
    let tainted: Set<string> | undefined;
    const redactCommand = (values: readonly string[]): string[] => {
      const redacted = argv(values, depth, tainted ?? NO_NAMES);
      // Written into a command that runs it (`echo 'cmd' | bash`): a script; into one that reads a password on stdin: that password.
      if (echoedScript !== undefined) rewriteEchoed(values, redacted, (word, done) => (done === word ? asScript(echoedScript as StdinScript, word) : done));
      if (readsPassword) rewriteEchoed(values, redacted, () => REDACTED);
      return redacted;
    };
    // The first pass sees the names tainted by the commands before (the set grows as it goes).
    const firstPass: string[][] = new Array<string[]>(commands.length);
    for (let c = 0; c < commands.length; c++) {
      const values = valuesOf[c] as string[];
      const redacted = redactCommand(values);
      for (let i = 0; i < values.length; i++) {
        const v = values[i] as string;
        if (redacted[i] === v || !v.includes('$')) continue;
        for (const m of v.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) if (!(redacted[i] as string).includes(m[0])) (tainted ??= new Set<string>()).add(m[1] as string);
      }
      firstPass[c] = redacted;
    }
    /**
     * A word its command's rules changed and that holds scripts (`--defaults-extra-file=<(printf
     * 'password=%s' x)`): a script whose own rules hide something is hidden whole, when the command's
     * edit lies inside it (the result then hides what either hid: the two edits cannot be merged).
     * Otherwise the command's edit stands alone.
     */
    const withScriptsRedacted = (value: string, redacted: string, w: Word): string => {
      if (w.scripts.length > MAX_SCRIPTS_IN_CHANGED_WORD) return REDACTED;
      let out = redacted;
      for (const [s, e] of w.scripts) {
        const inner = text.slice(s, e);
        const at = value.indexOf(inner);
        if (inner === '' || at < 0 || value.indexOf(inner, at + 1) >= 0) continue; // not once, verbatim, in the value
        const prefix = value.slice(0, at);
        const suffix = value.slice(at + inner.length);
        if (out.length < prefix.length + suffix.length || !out.startsWith(prefix) || !out.endsWith(suffix)) continue;
        if (line(inner, depth + 1) !== inner) out = `${prefix}${REDACTED}${suffix}`;
      }
      return out;
    };
    /** The line redirects output somewhere (`>`): secretFileTargets looks for where, per command. */
    const redirects = text.includes('>');
    // Edits come in text order (commands, their words, the scripts in a word): written as they come.
    let out = '';
    let from = 0;
    for (let c = 0; c < commands.length; c++) {
      const words = commands[c] as Word[];
      const values = valuesOf[c] as string[];
      const redacted = tainted !== undefined ? redactCommand(values) : (firstPass[c] as string[]);
      // echo x > ~/.vault-token, printf x >> /run/secrets/db_password: what is written into a file named like a
      // secret. A word a rule already rewrote keeps that finer edit (~/.pgpass's field, ~/.git-credentials' URL).
      const targets = redirects ? secretFileTargets(text, words) : undefined;
      if (targets !== undefined) rewriteEchoed(values, redacted, (word, done, j) => (targets.has(j) || done !== word ? done : REDACTED));
      for (let i = 0; i < words.length; i++) {
        const w = words[i] as Word;
        // A here-string (`<<< x`) is the command's standard input: a password when it reads one there.
        if (readsPassword && w.hereString && values[i] !== '') redacted[i] = REDACTED;
        else if (w.hereString && values[i] !== '') redacted[i] = hereScript(words, values, values[i] as string) ?? (redacted[i] as string);
        if (redacted[i] !== values[i] && w.scripts.length > 0) redacted[i] = withScriptsRedacted(values[i] as string, redacted[i] as string, w);
        if (redacted[i] !== values[i]) {
          // A process substitution rewritten inside (`--key-file <(echo ****)`) stays one, unquoted.
          const substitution = w.scripts.length > 0 && (values[i] as string).startsWith('<(') && (redacted[i] as string).startsWith('<(');
          out += text.slice(from, w.start) + (substitution ? (redacted[i] as string) : quoteWord(redacted[i] as string, w.doubleQuoted));
          from = w.end;
          continue;
        }
        for (const [s, e] of w.scripts) {
          const inner = text.slice(s, e);
          const r = line(inner, depth + 1);
          if (r === inner) continue;
          out += text.slice(from, s) + r;
          from = e;
        }
      }
    }
    if (hiddenTail) return `${out}${text.slice(from, end)}${REDACTED}`;
    return from === 0 ? text : out + text.slice(from);
  };

  /** One simple command's words, unquoted. */
  /** `textDone`: the words with the text rules already applied (and maybe more hidden), a copy this may write to. */
  const argv = (words: readonly string[], depth: number, tainted: ReadonlySet<string> = NO_NAMES, joined?: string, textDone?: string[]): string[] => {
    const out = textDone ?? redactWords(words, joined);
    if (tainted.size > 0) {
      for (let i = 0; i < words.length; i++) {
        const assignment = /^(?:-[a-z]+=)?([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\+?=/.exec(words[i] as string);
        if (assignment && tainted.has(assignment[1] as string)) out[i] = `${assignment[0]}${REDACTED}`;
      }
      // for t in x y; do curl -H "X-Api-Key: $t" …: the words the loop's variable takes.
      if ((words[0] === 'for' || words[0] === 'select') && words[2] === 'in' && tainted.has(words[1] as string)) for (let i = 3; i < words.length; i++) out[i] = REDACTED;
    }
    // `password: x` and `password = x` as separate words (YAML or INI lines in a heredoc, an
    // unquoted header): the word after the secret name, and after an auth scheme word.
    for (let i = 0; i + 1 < words.length; i++) {
      const w = words[i] as string;
      let name: string | undefined;
      if (w.length > 1 && w.endsWith(':')) name = w.slice(0, -1).replace(/^["']|["']$/g, '');
      else if (words[i + 1] === '=' && i + 2 < words.length) {
        name = w;
        i++;
      }
      if (name === undefined || name === '' || !isSecretName(name)) continue;
      let v = i + 1;
      if (AUTH_SCHEMES.has(lower(words[v] as string)) && v + 1 < words.length) v++;
      out[v] = REDACTED;
      i = v;
    }
    const k = programIndex(words);
    if (k + 2 < words.length && isSqlPasswordStatement(words, k)) hideSqlPasswordWords(words, k, out);
    if (k < words.length) command(words, k, out, depth);
    return out;
  };

  /**
   * Applies the tool-specific rules to words[k..] (words[k] is the program).
   * `chain` counts wrappers and interpreters before it (`sudo env nice …`):
   * beyond MAX_CHAIN the rest is hidden, so a line of 2,000 `watch` costs no
   * more than a short one.
   */
  const command = (words: readonly string[], k: number, out: string[], depth: number, chain = 0): void => {
    if (chain > MAX_CHAIN || depth > MAX_DEPTH) {
      for (let j = k; j < words.length; j++) out[j] = REDACTED;
      return;
    }
    // A program alone: no tool rule has anything to look at (a flag alone continues an earlier line, and still goes on).
    if (k + 1 >= words.length && (words[k] as string).charCodeAt(0) !== 45) return;
    const tool = lower(baseName(words[k] as string));
    const has = (w: string): boolean => words.indexOf(w, k + 1) >= 0;
    // A versioned name has its tool's short flags (mysql8, mysql-8.0); 7z's digit is its name.
    const versionless = isDigit(tool.charCodeAt(tool.length - 1)) ? tool.replace(/-?[\d.]+$/, '') : tool;
    const shortSecret = [...(SHORT_SECRET_FLAGS.get(tool) ?? (versionless !== tool && versionless !== '' ? SHORT_SECRET_FLAGS.get(versionless) : undefined) ?? [])];
    if (tool.startsWith('tpm2_')) shortSecret.push('-p', '-P'); // tpm2-tools' authorization values
    if ((LOGIN_TOOLS.has(tool) && has('login')) || (tool === 'dotnet' && has('nuget')) || (tool === 'conan' && has('user'))) shortSecret.push('-p');
    if (tool === 'dotnet' && has('nuget') && has('push')) shortSecret.push('-k'); // dotnet nuget push -k API_KEY
    if (tool === 'dotnet' && has('dev-certs')) shortSecret.push('-p'); // dotnet dev-certs https -ep cert.pfx -p PASSWORD
    if (tool === 'doveadm' && has('pw')) shortSecret.push('-p'); // doveadm pw -s SCHEME -p PASSWORD (Dovecot)
    if (tool === 'caddy' && has('hash-password')) shortSecret.push('-p', '--plaintext'); // caddy hash-password --plaintext x (grpcurl's -plaintext is a mode)
    if (tool === 'influx' && (has('setup') || has('user'))) shortSecret.push('-p'); // influx setup -p x, influx user create -p x (elsewhere -p is --precision)
    // gitea admin user change-password -u kim -p x (forgejo's), airflow users create -p x.
    if (((tool === 'gitea' || tool === 'forgejo') && has('change-password')) || (tool === 'airflow' && has('users'))) shortSecret.push('-p');
    // uv publish -p x, maturin publish -p x, pdm publish -P x.
    if ((tool === 'uv' || tool === 'maturin') && has('publish')) shortSecret.push('-p');
    if (tool === 'pdm' && has('publish')) shortSecret.push('-P');
    // az keyvault secret set --value x, aws ssm put-parameter --value x, glab variable set K --value x.
    if ((tool === 'az' && has('secret')) || (tool === 'aws' && has('put-parameter')) || (tool === 'glab' && has('variable'))) shortSecret.push('--value');
    // A secret store's setter: drone secret add --data x, … secrets set --value x.
    const secretCommand = has('secret') || has('secrets');
    if (secretCommand) shortSecret.push('--value', '--data');
    // az sql server create -p x (postgres and mysql flexible-server too): the administrator's password; elsewhere az's -p is --parameters.
    if (tool === 'az' && (has('server') || has('flexible-server'))) shortSecret.push('-p');
    if (tool === 'llm' && has('keys')) shortSecret.push('--value'); // llm keys set NAME --value x
    const httpie = tool === 'http' || tool === 'https' || tool === 'xh' || tool === 'xhs';
    // httpie -A bearer -a TOKEN: the value is a token, not user:password.
    if (httpie && words.some((w, j) => j > k && (w === '--auth-type=bearer' || ((w === '-A' || w === '--auth-type') && words[j + 1] === 'bearer')))) shortSecret.push('-a', '--auth');
    const curl = tool === 'curl';
    const tlsSecret = KUBE_CLIS.has(tool) && has('secret') && has('tls');
    const containerBuild = (CONTAINER_CLIS.has(tool) || tool === 'buildah' || tool === 'buildctl') && (has('build') || has('bud') || tool === 'buildctl');
    // This tool's own user flags, looked up once: each flag word asks.
    const ownUserFlags = TOOL_USER_FLAGS.get(tool);
    const userFlags = { has: (f: string): boolean => (f.length <= LONGEST_USER_FLAG && USER_FLAGS.has(f)) || (ownUserFlags !== undefined && ownUserFlags.includes(f)) };
    /** userFlags.has(`-${letter}`), without making the string: USER_FLAGS' short flags and the tool's own (glued: -a, -E, -n, -A, -P, -c). */
    const gluedUserFlag = (letter: number): boolean => USER_FLAG_LETTERS.has(letter) || (ownUserFlags !== undefined && ownUserFlags.some((f) => f.length === 2 && f.charCodeAt(1) === letter));
    const redactNext = (i: number): void => {
      if (i + 1 < words.length) out[i + 1] = REDACTED;
    };

    const wrapper = wrapperOf(words, k, tool);
    if (wrapper) {
      const i = wrappedCommandIndex(words, k, wrapper);
      if (tool === 'env') {
        const split = words.findIndex((w, j) => j > k && j < i && (w === '-S' || w === '--split-string'));
        if (split > k && split + 1 < words.length) {
          out[split + 1] = line(words[split + 1] as string, depth + 1);
          return;
        }
      }
      if (i < words.length) {
        const sources = tool === 'parallel' ? words.findIndex((w, j) => j > i && PARALLEL_SOURCES.has(w)) : -1;
        const last = sources > i ? sources - 1 : words.length - 1;
        if (SCRIPT_WRAPPERS.has(tool) && i === last) out[i] = line(words[i] as string, depth + 1); // watch 'a script', pdsh -w h 'a script'
        else command(words, i, out, depth, chain + 1);
      }
      return;
    }
    // A script run by its interpreter (`#!/bin/sh` stubs and shims reach the kernel as
    // `/bin/sh /usr/local/bin/mysql -px`): the rules of the script's own name apply.
    const script = words[k + 1];
    if ((SHELLS.has(tool) || INTERPRETER.test(tool)) && script !== undefined && !script.startsWith('-') && script.includes('/')) {
      command(words, k + 1, out, depth, chain + 1);
      return;
    }
    // python -m twine upload -p x: the module's own rules, as if run by its name.
    if (script === '-m' && k + 2 < words.length && tool.startsWith('python')) {
      command(words, k + 2, out, depth, chain + 1);
      return;
    }
    // pwsh -Command 'script' (powershell too): its words split as a shell's are.
    if ((tool === 'pwsh' || tool === 'powershell') && script !== undefined && /^-(?:c|command)$/i.test(script) && k + 2 < words.length) {
      out[k + 2] = line(words[k + 2] as string, depth + 1);
      return;
    }
    // Keystrokes sent to a terminal are a command line being typed.
    if ((tool === 'tmux' && (has('send-keys') || has('send'))) || (tool === 'screen' && has('stuff'))) {
      const from = Math.max(words.indexOf('send-keys', k), words.indexOf('send', k), words.indexOf('stuff', k));
      for (let j = from + 1; j < words.length; j++) {
        const w = words[j] as string;
        if (w === '-t' || w === '-N' || w === '-p') j++;
        else if (!w.startsWith('-')) out[j] = line(w, depth + 1);
      }
      return;
    }
    // find … -exec CMD … ; (-execdir, -ok, -okdir): the command's own rules.
    if (tool === 'find') {
      const exec = words.findIndex((w, j) => j > k && FIND_EXEC.has(w));
      if (exec > k && exec + 1 < words.length) command(words, exec + 1, out, depth, chain + 1);
      return;
    }
    if (tool === 'eval') {
      for (let j = k + 1; j < words.length; j++) out[j] = line(words[j] as string, depth + 1);
      return;
    }
    // docker exec [options] CONTAINER COMMAND…, docker run [options] IMAGE COMMAND…, compose's too.
    if (CONTAINER_CLIS.has(tool) || tool === 'docker-compose') {
      let i = k + 1;
      if (words[i] === 'compose' || words[i] === 'container') i++;
      if (words[i] === 'exec' || words[i] === 'run') {
        i = containerCommand(words, i + 1);
        if (i < words.length) command(words, i, out, depth, chain + 1);
        return;
      }
    }
    // kubectl exec POD -- COMMAND… (run, debug).
    if (KUBE_CLIS.has(tool) && (has('exec') || has('run') || has('debug'))) {
      const dashes = words.indexOf('--', k + 1);
      if (dashes > k && dashes + 1 < words.length) {
        command(words, dashes + 1, out, depth, chain + 1);
        return;
      }
    }
    // ssh -o ProxyCommand=…, rsync -e …: option values that are shell commands, redacted as lines.
    if (SSH_CLIENTS.has(tool) || tool === 'rsync') redactCommandOptions(words, k, tool === 'rsync', out, (script) => line(script, depth + 1));
    // docker secret create NAME <(echo x): the file is the secret.
    if (CONTAINER_CLIS.has(tool) && words[k + 1] === 'secret' && words[k + 2] === 'create') {
      const file = words[k + 4];
      if (file !== undefined && file.startsWith('<(')) out[k + 4] = REDACTED;
    }
    if (tool === 'ssh' || tool === 'autossh') {
      let i = k + 1;
      while (i < words.length && (words[i] as string).startsWith('-')) i += SSH_WITH_VALUE.has(words[i] as string) ? 2 : 1;
      const tail = i + 1;
      if (tail < words.length) {
        // The text rules have run on these words already (out): not again at every nested ssh.
        const inner = argv(words.slice(tail), depth + 1, NO_NAMES, undefined, out.slice(tail));
        for (let j = tail; j < words.length; j++) {
          const asArg = inner[j - tail] as string;
          if (asArg === words[j]) {
            out[j] = line(words[j] as string, depth + 1);
            continue;
          }
          // Hidden whole already (the rest past MAX_CHAIN nested ssh): nothing more to hide, and nothing to read again.
          if (asArg === REDACTED) {
            out[j] = asArg;
            continue;
          }
          // A word with a blank is a piece of the remote shell's line (ssh joins the words with
          // spaces): read as one (`'DB_PASSWORD=x ./deploy.sh'`), unless that hides nothing.
          const w = words[j] as string;
          const asLine = w.includes(' ') || w.includes('\t') || w.includes('\n') ? line(w, depth + 1) : w;
          out[j] = asLine !== words[j] ? (asLine as string) : asArg;
        }
      }
      return;
    }

    // pulumi config set [--secret] KEY VALUE: its --secret flag says the value is one, and takes no value itself.
    if (tool === 'pulumi' && words[k + 1] === 'config' && words[k + 2] === 'set') {
      const [key, value] = positionalsAfter(words, k + 2, PULUMI_WITH_VALUE);
      if (key !== undefined && value !== undefined && (words.indexOf('--secret', k + 3) > 0 || isSecretName(lastNamePart(words[key] as string)))) out[value] = REDACTED;
      return;
    }

    // What applies to this tool, decided once; the loop below runs per word.
    const isShell = SHELLS.has(tool);
    const isSu = tool === 'su';
    const isOpenssl = tool === 'openssl' || tool === 'ssh-keygen';
    const ghSecret = tool === 'gh' && has('secret');
    const isVault = tool === 'vault';
    const isConfig = CONFIG_TOOLS.has(tool);
    const isJq = tool === 'jq' || tool === 'gojq' || tool === 'yq';
    const scriptFlags = SCRIPT_FLAGS.get(tool);
    const noValueSecretFlags = NO_VALUE_SECRET_FLAGS.get(tool);
    const special = isShell || isSu || isOpenssl || ghSecret || isVault;
    let lastPositional = -1;
    // A line that starts with a flag continues an earlier one (a multi-line command).
    for (let i = tool.startsWith('-') ? k : k + 1; i < words.length; i++) {
      const w = words[i] as string;
      const next = words[i + 1];
      const flag = w.charCodeAt(0) === 45;
      if (!flag && !special) {
        // Positional words: only settings named like secrets (aws, git, npm config …).
        if (isConfig && next !== undefined && next.charCodeAt(0) !== 45 && isSecretSetting(tool, w)) {
          redactNext(i);
          i++;
          continue;
        }
        // Windows-style options of .NET tools run here (sqlpackage /TargetPassword:x, /password:x): the value after the colon.
        if (w.charCodeAt(0) === 47 && w.indexOf(':') > 1) {
          const option = WINDOWS_OPTION.exec(w);
          if (option !== null && isSecretName(option[1] as string)) {
            out[i] = `${option[0]}${REDACTED}`;
            continue;
          }
        }
        lastPositional = i;
        continue;
      }
      if (isShell && next !== undefined && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(w)) {
        out[i + 1] = line(next, depth + 1);
        i++;
        continue;
      }
      if (isSu && (w === '-c' || w === '--command' || w === '-C' || w === '--session-command') && next !== undefined) {
        out[i + 1] = line(next, depth + 1);
        i++;
        continue;
      }
      if (tool === 'lftp' && (w === '-e' || w === '-c') && next !== undefined) {
        out[i + 1] = line(next, depth + 1); // lftp's commands: `open -u user,password host`
        i++;
        continue;
      }
      if (scriptFlags !== undefined && flag) {
        if (next !== undefined && scriptFlags.includes(w)) {
          out[i + 1] = line(next, depth + 1);
          i++;
          continue;
        }
        const eq = w.indexOf('=');
        if (eq > 0 && scriptFlags.includes(w.slice(0, eq))) {
          out[i] = `${w.slice(0, eq + 1)}${line(w.slice(eq + 1), depth + 1)}`; // --command='mysql -px'
          continue;
        }
      }
      if (isSu && w.startsWith('--command=')) {
        out[i] = `--command=${line(w.slice(10), depth + 1)}`;
        continue;
      }
      const short = shortSecret.length === 0 ? undefined : shortSecret.find((f) => w === f || (w.startsWith(f) && !w.startsWith('--')));
      if (short !== undefined) {
        if (w === short) {
          redactNext(i);
          i++;
        } else out[i] = short.length > 2 && w.charCodeAt(short.length) === 61 ? `${short}=${REDACTED}` : `${short}${REDACTED}`; // -encrypt=x
        continue;
      }
      if (flag && next !== undefined && next.charCodeAt(0) !== 45 && isSecretCommandFlag(w)) {
        out[i + 1] = line(next, depth + 1, true); // restic --password-command 'echo x'
        i++;
        continue;
      }
      const valueAt = flag ? w.indexOf('=') + 1 : 0;
      if (valueAt > 1 && isSecretCommandFlag(w, valueAt - 1)) {
        out[i] = `${w.slice(0, valueAt)}${line(w.slice(valueAt), depth + 1, true)}`; // --password-command='echo x'
        continue;
      }
      // A key file given as `<(echo x)`: what it prints. Only typed lines and scripts (sh -c) carry it: bash puts /dev/fd/N in argv.
      // Glued to it (`initdb --pwfile=<(echo x)`), the line's words are `--pwfile=` and `<(…)`: < ends a word.
      // In a secret command, its data file (gcloud secrets versions add s --data-file=<(…), kubectl create secret … --from-file=k=<(…)).
      const fileFlag = w.endsWith('=') ? w.slice(0, (w.startsWith('--from-file=') ? 11 : w.length - 1)) : w;
      if (flag && next !== undefined && next.startsWith('<(') && next.endsWith(')') && (isSecretFileFlag(fileFlag) || (secretCommand && (fileFlag === '--data-file' || fileFlag === '--from-file')) || (curl && (fileFlag === '-K' || fileFlag === '--config')))) {
        out[i + 1] = `<(${line(next.slice(2, -1), depth + 1, true)})`;
        i++;
        continue;
      }
      // docker build --secret id=npm,env=NPM_TOKEN (buildx, podman, buildah): the value says where the secret is, not what.
      if (containerBuild && w === '--secret' && next !== undefined && isBuildSecretSpec(next)) {
        i++;
        continue;
      }
      if (containerBuild && w.startsWith('--secret=') && isBuildSecretSpec(w.slice(9))) {
        out[i] = w;
        continue;
      }
      // kubectl create secret tls NAME --cert FILE --key FILE: a key's file, as curl's --key.
      if (tlsSecret && w.startsWith('--key=') && isPlainPath(w.slice(6))) {
        out[i] = w;
        continue;
      }
      // geth's --password names the file its password is in.
      if (tool === 'geth' && w.startsWith('--password=') && isPlainPath(w.slice(11))) {
        out[i] = w;
        continue;
      }
      if (noValueSecretFlags?.includes(w) === true) continue;
      if (flag && (isSecretFlag(w) || (w.length <= LONGEST_SECRET_FLAG && SECRET_FLAGS.has(w))) && !secretFlagNamesAFile(w, next, tool, curl || tlsSecret)) {
        // A secret flag that takes no value before one that does (pkcs11-tool --init-pin --new-pin x): the second's value is the secret.
        // Only a plain lower-case flag name is taken for one: a secret may start with --.
        if (next !== undefined && next.length <= 40 && /^--[a-z]+(?:-[a-z]+)*$/.test(next) && isSecretFlag(next)) continue;
        redactNext(i);
        i++;
        continue;
      }
      // A user flag, whole (-u, --user) or glued to its value (-ualice:x): the letter says, no slice needed to see.
      // --user=alice:x: the flag and its = are the prefix kept.
      const eq = flag && w.charCodeAt(1) === 45 && w.length <= LONGEST_USER_FLAG + 1 + MAX_USER_VALUE ? valueAt - 1 : -1; // w.indexOf('='), found above
      // Only a flag whose name ends as a user flag's does is cut out to look up (--password= and --token= are not).
      const userFlag = !flag ? undefined : userFlags.has(w) ? w : eq > 0 && eq <= LONGEST_USER_FLAG && USER_FLAG_LAST_LETTERS.has(w.charCodeAt(eq - 1)) && userFlags.has(w.slice(0, eq)) ? w.slice(0, eq + 1) : w.length > 2 && gluedUserFlag(w.charCodeAt(1)) ? w.slice(0, 2) : undefined;
      if (userFlag !== undefined) {
        const at = w === userFlag ? i + 1 : i;
        const prefix = w === userFlag ? '' : userFlag;
        // From what the text rules left of the word: what they hid stays hidden.
        const value = at < words.length && (out[at] as string).startsWith(prefix) ? (out[at] as string).slice(prefix.length) : undefined;
        if (value !== undefined) {
          const sep = (tool === 'lftp' || tool === 'open' ? /,/ : /[:%]/).exec(value); // lftp -u user,password (and its open command's)
          if (value.includes('://')) {
            // a URL: rule 5
          } else if (sep && sep.index > 0 && sep.index === value.length - 1 && value.charCodeAt(0) !== 36) {
            out[at] = `${prefix}${REDACTED}${value.slice(sep.index)}`; // `-u KEY:`, no password: the user is an API key (Stripe's and others' convention)
          } else if (sep && !/^\d+[:%]\d+$/.test(value)) {
            out[at] = `${prefix}${value.slice(0, sep.index + 1)}${REDACTED}`;
          } else if (value.includes('$')) {
            out[at] = `${prefix}${REDACTED}`; // user:password from a variable
          }
        }
        if (w === userFlag) i++;
        continue;
      }
      if (isOpenssl && (w.startsWith('env:') || w.startsWith('pass:'))) {
        out[i] = `${w.slice(0, w.indexOf(':') + 1)}${REDACTED}`;
        continue;
      }
      if (ghSecret && (w === '-b' || w === '--body')) {
        redactNext(i);
        i++;
        continue;
      }
      // Glued: gh secret set K -bVALUE, --body=VALUE (no other flag of gh secret starts with -b).
      if (ghSecret && flag && (w.startsWith('--body=') || (w.length > 2 && w.charCodeAt(1) === 98))) {
        out[i] = `${w.startsWith('--body=') ? '--body=' : '-b'}${REDACTED}`;
        continue;
      }
      // jq --arg token X: the variable's name says what its value is.
      if (isJq && (w === '--arg' || w === '--argjson') && next !== undefined) {
        if (i + 2 < words.length && isSecretName(next)) out[i + 2] = REDACTED;
        i += 2;
        continue;
      }
      if (isVault && (w === 'login' || w === 'unwrap') && next !== undefined && !next.startsWith('-') && !next.includes('=')) {
        redactNext(i);
        i++;
        continue;
      }
      if (isConfig && !flag && next !== undefined && next.charCodeAt(0) !== 45 && isSecretSetting(tool, w)) {
        redactNext(i);
        i++;
        continue;
      }
      if (!flag) lastPositional = i;
    }
    // openssl passwd [options] PASSWORD…, mkpasswd [options] PASSWORD [SALT]: the passwords to hash.
    const hasherOptions = PASSWORD_HASHERS.get(tool);
    if (hasherOptions !== undefined && (tool !== 'openssl' || words[k + 1] === 'passwd')) {
      const passwords = positionalsAfter(words, tool === 'openssl' ? k + 1 : k, hasherOptions);
      for (const j of tool === 'openssl' ? passwords : passwords.slice(0, 1)) out[j] = REDACTED;
    }
    // consul kv put KEY VALUE, etcdctl [--endpoints=…] put KEY VALUE: the value, when the key is named like a secret (app/db/password).
    const kvPut = KV_PUT.get(tool);
    const putAt = kvPut === undefined ? -1 : words.indexOf(kvPut.after[0] as string, k + 1);
    if (kvPut !== undefined && putAt > k && kvPut.after.every((part, n) => words[putAt + n] === part)) {
      const [key, value] = positionalsAfter(words, putAt + kvPut.after.length - 1, NO_NAMES).slice(kvPut.skip);
      if (key !== undefined && value !== undefined && isSecretName(lastNamePart(words[key] as string))) out[value] = REDACTED;
    }
    // smbclient //server/share PASSWORD: the word after the service, unless an option.
    if (tool === 'smbclient') {
      const service = words.findIndex((w, j) => j > k && (w.startsWith('//') || w.startsWith('\\\\')));
      const password = service > 0 ? words[service + 1] : undefined;
      if (password !== undefined && !password.startsWith('-')) out[service + 1] = REDACTED;
    }
    // A tool with short secret flags of its own (mysql, curl) runs no other program: the others' words are read for one.
    if (!SHORT_SECRET_FLAGS.has(tool)) hideGluedAfterToolNames(words, k, out);
    // Rules of one tool each (TOOL_RULES): one lookup, not a comparison per tool.
    const own = TOOL_RULES.get(tool) ?? ((tool.endsWith('.py') || tool.startsWith('impacket-')) && IMPACKET.test(tool) ? DOMAIN_USER_AT_HOST : undefined);
    if (own !== undefined) own(words, k, out, (text) => line(text, depth + 1));
    // Positional secrets of the tools that take them so.
    const positional = POSITIONAL_SECRETS.get(tool);
    if (positional) for (const [subcommand, after] of positional) redactPositional(words, k, subcommand, after, out);
    if (FREERDP.has(tool)) {
      for (let j = k + 1; j < words.length; j++) {
        const m = FREERDP_SECRET_OPTION.exec(words[j] as string);
        if (m) out[j] = `${m[0]}${REDACTED}`;
      }
    }
    // qpdf --encrypt USER-PASSWORD OWNER-PASSWORD BITS (qpdf 11's --user-password= are flags named like secrets).
    if (tool === 'qpdf') {
      const encrypt = words.indexOf('--encrypt', k + 1);
      for (let j = encrypt + 1; encrypt > k && j <= encrypt + 2 && j < words.length; j++) if (!(words[j] as string).startsWith('-')) out[j] = REDACTED;
    }
    // ansible-vault encrypt_string [options] STRING…: the strings are the secrets.
    if (tool === 'ansible-vault') {
      const encrypt = words.indexOf('encrypt_string', k + 1);
      if (encrypt > k) for (const j of positionalsAfter(words, encrypt, ANSIBLE_VAULT_WITH_VALUE)) out[j] = REDACTED;
    }
    // echo 'host:port:db:user:PASSWORD' >> ~/.pgpass (the redirection's file is a word here): the field after the fourth colon.
    if (ECHOES.has(tool) && words.some((w) => w.endsWith('.pgpass'))) {
      for (let j = k + 1; j < words.length; j++) {
        const m = /^((?:[^:\n]*:){4})[^\n]+/.exec(out[j] as string);
        if (m !== null && !(words[j] as string).endsWith('.pgpass')) out[j] = `${m[1] as string}${REDACTED}`;
      }
    }
    // htpasswd -b file user PASSWORD: the password is the last positional.
    if ((tool === 'htpasswd' || tool === 'mosquitto_passwd') && hasOptionLetter(words, k, 'b') && lastPositional > k) out[lastPositional] = REDACTED;
    // vault kv put PATH name=value …, vault write …: a secret store's values are secrets, whatever their name; not a
    // certificate's request to a PKI engine (`vault write pki/issue/web common_name=h ttl=24h`: the text rules still apply).
    if (isVault && (has('put') || has('write') || has('patch')) && !words.some((w, j) => j > k && isPkiPath(w))) {
      for (let j = k + 1; j < words.length; j++) {
        const w = words[j] as string;
        const eq = w.indexOf('=');
        if (eq > 0 && !w.startsWith('-')) out[j] = `${w.slice(0, eq + 1)}${REDACTED}`;
      }
    }
    // redis-cli AUTH [user] PASSWORD (the last word), CONFIG SET requirepass|masterauth VALUE, ACL SETUSER name >password.
    if (REDIS_CLIS.has(tool)) {
      for (let j = k + 1; j < words.length; j++) {
        const w = words[j] as string;
        if (w.length === 4 && lower(w) === 'auth') {
          const last = Math.min(j + 2, words.length - 1);
          if (last > j) out[last] = REDACTED;
        } else if (w.length === 3 && lower(w) === 'set' && j + 2 < words.length && isSecretName(words[j + 1] as string)) {
          out[j + 2] = REDACTED;
        } else if (w.length > 1 && (w.charCodeAt(0) === 62 || w.charCodeAt(0) === 35) && j > k + 1) out[j] = `${w.charAt(0)}${REDACTED}`; // >pw, #hash
      }
    }
    // cargo login [--registry NAME] TOKEN.
    if (tool === 'cargo') {
      const login = words.indexOf('login', k + 1);
      const token = login > k ? positionalsAfter(words, login, CARGO_WITH_VALUE)[0] : undefined;
      if (token !== undefined) out[token] = REDACTED;
    }
    // composer config http-basic.HOST USER PASSWORD, bearer.HOST TOKEN (github-oauth, gitlab-token, …);
    // poetry config http-basic.REPO USER PASSWORD, pypi-token.REPO TOKEN.
    if (tool === 'composer' || tool === 'poetry') {
      for (let j = k + 1; j < words.length; j++) {
        const w = words[j] as string;
        // The words after the setting that are secrets: the second (http-basic's password), the first (a token), both (bitbucket's key and secret).
        const [first, last] = w.startsWith('http-basic.') ? [2, 2] : w.startsWith('bitbucket-oauth.') ? [1, 2] : /^(?:bearer|github-oauth|gitlab-oauth|gitlab-token|pypi-token)\./.test(w) ? [1, 1] : [0, -1];
        for (let n = first; n <= last && j + n < words.length; n++) out[j + n] = REDACTED;
      }
    }
    // rabbitmqctl add_user NAME PASSWORD (change_password, authenticate_user).
    if (tool === 'rabbitmqctl') {
      for (let j = k + 1; j + 2 < words.length; j++) {
        if (RABBITMQ_PASSWORD_COMMANDS.has(words[j] as string)) out[j + 2] = REDACTED;
      }
    }
    // sqlplus user/password@database: the logon is the first argument that is not an option; rman's
    // follow target, catalog and auxiliary (or are glued to them: target=sys/x@db).
    if (tool === 'rman') {
      for (let j = k + 1; j < words.length; j++) {
        const w = words[j] as string;
        const eq = w.indexOf('=');
        if (eq > 0 && RMAN_LOGON_WORDS.has(lower(w.slice(0, eq)))) out[j] = `${w.slice(0, eq + 1)}${hideLogonPassword(w.slice(eq + 1))}`;
        else if (RMAN_LOGON_WORDS.has(lower(w)) && j + 1 < words.length) out[j + 1] = hideLogonPassword(words[j + 1] as string);
      }
    } else if (ORACLE_LOGON_TOOLS.has(tool)) {
      const j = words.findIndex((w, i) => i > k && !w.startsWith('-'));
      if (j > k) out[j] = hideLogonPassword(words[j] as string);
    }
  };

  return {
    enabled,
    args(args, joined) {
      if (!enabled) return [...args];
      commandsLeft = MAX_COMMANDS;
      const out = argv(args, 0, NO_NAMES, joined, recentText.textRules(args, joined));
      return userPatterns.length === 0 ? out : out.map(user);
    },
    line(text) {
      if (!enabled) return text;
      commandsLeft = MAX_COMMANDS;
      return user(line(text, 0));
    },
  };
}

/**
 * Host names are not secrets by default: only the user's own patterns
 * (--redact-pattern) rewrite them, and nothing does with --no-redact.
 */
export function createNameRedactor(enabled: boolean, userPatterns: readonly UserPattern[] = []): (name: string) => string {
  if (!enabled || userPatterns.length === 0) return (name) => name;
  return (name) => userPatterns.reduce((out, p) => p.replace(out, REDACTED), name);
}
