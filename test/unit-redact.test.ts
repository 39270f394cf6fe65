import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compileUserPattern } from '../receiver/src/commands/patterns';
import { RECENT_ARGV_TTL_MS, RecentArgvText, sharedEnds } from '../receiver/src/commands/recent-argv';
import { createRedactor, REDACTED, TOKEN_PREFIX_LIST, tokenStarts } from '../receiver/src/commands/redact';
import { quoteWord, splitCommands } from '../receiver/src/commands/shell-words';
import { GOLDEN_FILE, goldenDigests, goldenRedactor, RULE_PIECES } from './helpers/redaction-golden';
import { seededRandom } from './helpers/seeded';
import { SECRET_CORPUS } from './helpers/secret-corpus';

const r = createRedactor(true, [compileUserPattern('sk_live_[A-Za-z0-9]+')]);

describe('secret redaction: the corpus, typed and as argv', () => {
  it('covers every rule with at least 60 lines', () => {
    assert.ok(SECRET_CORPUS.length >= 60);
    assert.ok(new Set(SECRET_CORPUS.map((c) => c.category)).size >= 12);
  });
  for (const c of SECRET_CORPUS) {
    it(`${c.category}: ${c.line}`, () => {
      const line = r.line(c.line);
      for (const s of c.secrets) assert.ok(!line.includes(s), `line leaks ${s}: ${line}`);
      for (const k of c.keep) assert.ok(line.includes(k), `line lost ${k}: ${line}`);
      if (c.typedOnly) return;
      for (const words of splitCommands(c.line)) {
        const argv = r.args(words.map((w) => w.value)).join(' ');
        for (const s of c.secrets) assert.ok(!argv.includes(s), `argv leaks ${s}: ${argv}`);
      }
    });
  }
});

describe('secret redaction: what stays readable', () => {
  const same = [
    'ls -la /tmp',
    'ssh -p 2222 admin@web1 uptime',
    'FOO=bar make -j4',
    'grep -rn pattern src/',
    'docker run -p 8080:80 -u 1000:1000 nginx',
    'psql -U postgres -h db1 -p 5432 shop',
    'git log --oneline -n 5',
    'curl -s https://example.com/a?page=2&sort=asc',
    'tar -C /srv -xzf a.tgz',
    // the rules of 2026-12-06 leave these alone
    'sqlplus /nolog @setup.sql',
    'sqlplus / as sysdba',
    'echo hello | wc -c',
    'echo done; ls -S /var',
    'dotnet build -p:Configuration=Release',
    'composer require monolog/monolog',
    'cargo build --release',
    'jq -n --arg user kim \'{u: $user}\'',
    'curl https://evilhooks.slack.com/services/a/b/c',
    'curl https://hooks.slack.com/services/',
    'rabbitmqctl list_users',
    'sql db/report.sql',
    // the rules added later on 2026-12-06 leave these alone
    'docker run --rm -it -e TZ=UTC -v /srv:/srv alpine sh',
    'docker exec -it db1 psql -U app shop',
    'kubectl exec -it web-0 -- ls /var/log',
    'kubectl run -it tmp --image=busybox -- sh',
    'psql -c "select count(*) from users where password is null"',
    'grep -rn "password" src/',
    'nmcli dev wifi list',
    'mc ls s3/bucket',
    'lftp -u kim ftp.example',
    'xfreerdp /v:win1 /u:kim /size:1920x1080',
    'cat <<< "hello world"',
    'curl https://api.telegram.org/',
    // the rules of 2026-12-07 leave these alone
    'ALTER TABLE t ADD COLUMN password text',
    'set -o vi',
    'consul kv put app/config/port 8080',
    'etcdctl put foo bar',
    'rman target /',
    'pulumi config set region us-east-1',
    'yes | apt-get install nginx',
    'echo hello | bash',
    "find . -name '*.log' -exec rm {} ';'",
    'sudo -iu postgres psql',
    'screen -dmS build make -j4',
    'mkpasswd --help',
  ];
  for (const line of same) it(line, () => assert.equal(r.line(line), line));

  const exact: Array<[string, string]> = [
    // here-documents typed at the prompt: their lines reach the rules as commands, quotes removed
    ["mysql -uroot <<SQL\nALTER USER app IDENTIFIED BY 'hunter2';\nSQL", 'mysql -uroot <<SQL\nALTER USER app IDENTIFIED BY ****;\nSQL'],
    ["psql <<EOF\nCREATE ROLE app LOGIN PASSWORD 'hunter2';\nEOF", 'psql <<EOF\nCREATE ROLE app LOGIN PASSWORD ****;\nEOF'],
    ['mysql <<EOF\nSET PASSWORD FOR kim@h = hunter2;\nEOF', 'mysql <<EOF\nSET PASSWORD FOR kim@h = ****;\nEOF'],
    ['ftp -n h1 <<EOF\nuser kim hunter2\nls\nbye\nEOF', 'ftp -n h1 <<EOF\nuser kim ****\nls\nbye\nEOF'],
    ['cat <<EOF > .env\nDB_PASSWORD=hunter2\nEOF', 'cat <<EOF > .env\nDB_PASSWORD=****\nEOF'],
    ['mysql -u root -p hunter2 db', 'mysql -u root -p **** db'],
    ['mysql --password=hunter2 db', 'mysql --password=**** db'],
    ['app --token "abc def" run', 'app --token **** run'],
    ['DB_PASSWORD=s3cret ./run.sh', 'DB_PASSWORD=**** ./run.sh'],
    ['curl https://bob:pa55@example.com/x', 'curl https://bob:****@example.com/x'],
    ["curl -H 'Authorization: Bearer eyJabc' https://x", "curl -H 'Authorization: Bearer ****' https://x"],
    ['sh -c "mysql -phunter2 db"', 'sh -c "mysql -p**** db"'],
    ['echo sk_live_zzz9', 'echo ****'],
    ['multi\n--api-key k1', 'multi\n--api-key ****'],
    ['cat <<EOF > app.yml\nuser: app\npassword: hunter2\nEOF', 'cat <<EOF > app.yml\nuser: app\npassword: ****\nEOF'],
    ['cat > app.ini <<EOF\ndb_password = hunter2\nEOF', 'cat > app.ini <<EOF\ndb_password = ****\nEOF'],
    ['curl -H Authorization: Bearer abc123 http://h/', 'curl -H Authorization: Bearer **** http://h/'],
    ['printf %s hunter2 | docker login -u kim --password-stdin r', 'printf **** **** | docker login -u kim --password-stdin r'],
    ['echo -n hunter2 | sudo -S -u app id', 'echo -n **** | sudo -S -u app id'],
    ["PW=hunter2; echo \"$PW\" | podman login --password-stdin q", "PW=****; echo **** | podman login --password-stdin q"],
    ['consul agent -encrypt=abc -dev', 'consul agent -encrypt=**** -dev'],
    ['consul agent -encrypt abc -dev', 'consul agent -encrypt **** -dev'],
    ['composer config bitbucket-oauth.bitbucket.org key1 secret1', 'composer config bitbucket-oauth.bitbucket.org **** ****'],
    ['composer config --global github-oauth.github.com tok1', 'composer config --global github-oauth.github.com ****'],
    ['sqlplus -s scott/tiger@orcl', 'sqlplus -s scott/****@orcl'],
    ['sqlplus scott/tiger', 'sqlplus scott/****'],
    ['rabbitmqctl -n rabbit@h change_password kim hunter2', 'rabbitmqctl -n rabbit@h change_password kim ****'],
    ['vault write auth/userpass/users/kim password=x policies=admin', 'vault write auth/userpass/users/kim password=**** policies=****'],
    ['curl https://x.discordapp.com/api/webhooks/1/SEC?wait=true', 'curl \'https://x.discordapp.com/api/webhooks/1/****?wait=true\''],
    ['gem push --otp 123456 x.gem', 'gem push --otp **** x.gem'],
    ["psql -c \"ALTER ROLE app LOGIN ENCRYPTED PASSWORD 'x1'\"", "psql -c \"ALTER ROLE app LOGIN ENCRYPTED PASSWORD '****'\""],
    ["mysql -e \"SET PASSWORD FOR 'kim'@'%' = PASSWORD('x1')\"", "mysql -e \"SET PASSWORD FOR 'kim'@'%' = PASSWORD('****')\""],
    ["mysql -e \"ALTER USER kim IDENTIFIED WITH mysql_native_password BY 'x1'\"", "mysql -e \"ALTER USER kim IDENTIFIED WITH mysql_native_password BY '****'\""],
    ["mysql <<< \"CREATE USER kim IDENTIFIED BY 'x1'\"", "mysql <<< \"CREATE USER kim IDENTIFIED BY '****'\""],
    ['cat <<< hunter2', 'cat <<< hunter2'],
    ["gh auth login --with-token <<< 'x1'", 'gh auth login --with-token <<< ****'],
    ['gcloud secrets versions add db --data-file=- <<< x1', 'gcloud secrets versions add db --data-file=- <<< ****'],
    ['docker run --rm -e A=1 --name t mysql:8 mysql -h db -px1', 'docker run --rm -e A=1 --name t mysql:8 mysql -h db -p****'],
    ['docker compose exec -T db mysql -px1', 'docker compose exec -T db mysql -p****'],
    ['podman exec -u 0 db sh -c "mysql -px1"', 'podman exec -u 0 db sh -c "mysql -p****"'],
    ['oc exec web-0 -- redis-cli -a x1 ping', 'oc exec web-0 -- redis-cli -a **** ping'],
    ['mc admin user add s3 kim x1', 'mc admin user add s3 kim ****'],
    ['cf auth kim x1', 'cf auth kim ****'],
    ['xfreerdp /u:kim /gp:x1 /pth:x2 /v:h', 'xfreerdp /u:kim /gp:**** /pth:**** /v:h'],
    ['nmcli con modify wifi1 wifi-sec.psk x1', 'nmcli con modify wifi1 wifi-sec.psk ****'],
    ['curl https://api.telegram.org/bot12:x1/getMe?x=1', "curl 'https://api.telegram.org/bot****/getMe?x=1'"],
    ['poetry config pypi-token.pypi x1', 'poetry config pypi-token.pypi ****'],
    ['poetry config http-basic.corp kim x1', 'poetry config http-basic.corp kim ****'],
    // a subcommand named like a secret is no setting: its next word stays
    ['gcloud auth login kim@example.org', 'gcloud auth login kim@example.org'],
    ['aws secretsmanager get-secret-value --secret-id db', 'aws secretsmanager get-secret-value --secret-id db'],
    ['dotnet user-secrets set Db:Password x1', 'dotnet user-secrets set Db:Password ****'],
    ['yarn config set npmAuthToken x1', 'yarn config set npmAuthToken ****'],
    ['poetry publish --username __token__ --password x1', 'poetry publish --username __token__ --password ****'],
    ['redis-cli AUTH x1', 'redis-cli AUTH ****'],
    ['redis-cli CONFIG SET requirepass x1', 'redis-cli CONFIG SET requirepass ****'],
    ["redis-cli ACL SETUSER kim on '>x1' '~keys:*' +get", "redis-cli ACL SETUSER kim on '>****' '~keys:*' +get"],
    ['skopeo copy --dest-creds=kim:x1 docker://a docker://b', 'skopeo copy --dest-creds=kim:**** docker://a docker://b'],
    ['wg set wg0 private-key <(echo x1)', 'wg set wg0 private-key ****'],
    ['diff <(sort a) <(sort b)', 'diff <(sort a) <(sort b)'],
    ['cat <(curl -u kim:x1 https://h)', 'cat <(curl -u kim:**** https://h)'],
    ["cryptsetup open /dev/sdb1 vault <<< 'x1'", 'cryptsetup open /dev/sdb1 vault <<< ****'],
    ['smbpasswd -s -a kim <<< x1', 'smbpasswd -s -a kim <<< ****'],
    ['sshfs kim@h:/ /mnt -o password_stdin <<< x1', 'sshfs kim@h:/ /mnt -o password_stdin <<< ****'],
    ['echo x1 | htpasswd -i .htpasswd kim', 'echo **** | htpasswd -i .htpasswd kim'],
    ['scp -oProxyCommand="sshpass -p x1 ssh jump" f h:', "scp '-oProxyCommand=sshpass -p **** ssh jump' f h:"],
    ['rsync --rsh="sshpass -p x1 ssh" a h:b', 'rsync \'--rsh=sshpass -p **** ssh\' a h:b'],
    ['ssh -o ProxyCommand=none -o StrictHostKeyChecking=no -o PasswordAuthentication=no h', 'ssh -o ProxyCommand=none -o StrictHostKeyChecking=no -o PasswordAuthentication=no h'],
    ["printf 'machine a login b password x1\\nmachine c password x2\\n' > n", "printf 'machine a login b password ****\\nmachine c password ****\\n' > n"],
    ['echo "reset the password for kim"', 'echo "reset the password for kim"'],
    // a command that prints a secret: what it prints is hidden, the command stays readable
    ["restic -r b --password-command 'echo x1' snapshots", "restic -r b --password-command 'echo ****' snapshots"],
    ["restic -r b --password-command 'pass show restic' snapshots", "restic -r b --password-command 'pass show restic' snapshots"],
    // The flag's name in any case, as its pattern reads it (a filter on its last letter once read only lower case).
    ["rclone --Password-CMD 'echo x1' ls r:", "rclone --Password-CMD 'echo ****' ls r:"],
    // GNU parallel runs its command in a shell: one word is a script, before its argument sources.
    ["parallel -j4 'curl -u kim:x1 https://h/{}' ::: a b", "parallel -j4 'curl -u kim:**** https://h/{}' ::: a b"],
    ['parallel --jobs 2 curl -u kim:x1 https://h/{} ::: a b', 'parallel --jobs 2 curl -u kim:**** https://h/{} ::: a b'],
    ["seq 3 | parallel 'mysql -px1 -e \"select {}\"'", "seq 3 | parallel 'mysql -p**** -e \"select {}\"'"],
    ['parallel --jobs 2 gzip ::: a.log b.log', 'parallel --jobs 2 gzip ::: a.log b.log'],
    ["parallel -a hosts.txt 'ssh {} uptime'", "parallel -a hosts.txt 'ssh {} uptime'"],
    ['pppd call isp user kim password x1', 'pppd call isp user kim password ****'],
    ['pppd call isp', 'pppd call isp'],
    ["vsql -h v -U dbadmin -w x1 -c 'select 1'", "vsql -h v -U dbadmin -w **** -c 'select 1'"],
    ['sendEmail -s smtp:587 -xu me -xp x1 -m hi', 'sendEmail -s smtp:587 -xu me -xp **** -m hi'],
    // A quoted value after a secret name and a spaced =: jq and yq filters, Python, TOML. A test's unquoted word stays.
    ["jq '.auth.token = \"x1\"' c.json", "jq '.auth.token = \"****\"' c.json"],
    ["jq '.token |= \"x1\"' c.json", "jq '.token |= \"****\"' c.json"],
    ["python3 -c 'client.api_key = \"x1\"'", "python3 -c 'client.api_key = \"****\"'"],
    ['[ "$mode" = token ] && echo ok', '[ "$mode" = token ] && echo ok'],
    // xmlstarlet: the value of a node named like a secret.
    ["xmlstarlet ed -u '//db/@password' -v x1 c.xml", "xmlstarlet ed -u '//db/@password' -v **** c.xml"],
    ['xmlstarlet ed -s /cfg -t elem -n token -v x1 c.xml', 'xmlstarlet ed -s /cfg -t elem -n token -v **** c.xml'],
    ['xmlstarlet ed -u //user -v kim c.xml', 'xmlstarlet ed -u //user -v kim c.xml'],
    // Where a secret is, not what it is: a file's name, a build secret's description.
    ['gcloud auth activate-service-account --key-file=k.json', 'gcloud auth activate-service-account --key-file=k.json'],
    ['docker run -e DB_PASSWORD_FILE=/run/secrets/db app', 'docker run -e DB_PASSWORD_FILE=/run/secrets/db app'],
    ['docker buildx build --secret id=npm,env=NPM_TOKEN -t app .', 'docker buildx build --secret id=npm,env=NPM_TOKEN -t app .'],
    ['podman build --secret=id=k,src=./k.txt .', 'podman build --secret=id=k,src=./k.txt .'],
    ['docker build --secret x1 .', 'docker build --secret **** .'],
    // kubectl create secret tls: --key names the key's file (a token given there is still hidden).
    ['kubectl create secret tls web --cert=tls.crt --key=tls.key', 'kubectl create secret tls web --cert=tls.crt --key=tls.key'],
    ['kubectl create secret tls web --cert tls.crt --key /etc/ssl/k.pem', 'kubectl create secret tls web --cert tls.crt --key /etc/ssl/k.pem'],
    ['kubectl create secret tls web --key=ghp_0123456789abcdefghijklmnopqrstuvwxyz', 'kubectl create secret tls web --key=****'],
    ['kubectl create secret generic db --from-literal=key=x1', 'kubectl create secret generic db --from-literal=key=****'],
    ['microk8s join 10.0.0.1:25000/x1/x2 --worker', 'microk8s join 10.0.0.1:25000/**** --worker'],
    ['microk8s add-node', 'microk8s add-node'],
    ['terraform login app.terraform.io <<< x1', 'terraform login app.terraform.io <<< ****'],
    ['terraform apply -auto-approve', 'terraform apply -auto-approve'],
    ['cvs -d:pserver:kim:x1@h:/r co m', 'cvs -d:pserver:kim:****@h:/r co m'],
    ['cvs -d :pserver:kim@h:/r login', 'cvs -d :pserver:kim@h:/r login'],
    ['p4 -p ssl:p4:1666 -u kim -P x1 sync', 'p4 -p ssl:p4:1666 -u kim -P **** sync'],
    // A word's own NAME=value is the rest of the word, blanks and all; in a list, up to the next name=.
    ['tool --password="correct horse x1" -v', 'tool --password=**** -v'],
    ["DB_PASSWORD='a x1' ./run", 'DB_PASSWORD=**** ./run'],
    ["kubectl create secret generic s --from-literal=password='a x1'", 'kubectl create secret generic s --from-literal=password=****'],
    ["ansible-playbook site.yml -e 'vault_pass=x1 env=prod'", "ansible-playbook site.yml -e 'vault_pass=**** env=prod'"],
    ['JAVA_OPTS="-Dpassword=x1 -Xmx1g" java -jar a.jar', "'JAVA_OPTS=-Dpassword=**** -Xmx1g' java -jar a.jar"],
    // ssh's words with blanks are the remote shell's line.
    ["ssh h 'DB_PASSWORD=x1 ./deploy.sh'", "ssh h 'DB_PASSWORD=**** ./deploy.sh'"],
    ['msmtp --passwordeval "echo x1" bob@ex.org', 'msmtp --passwordeval "echo ****" bob@ex.org'],
    [`duckdb -c "CREATE SECRET s (TYPE S3, KEY_ID 'AK', SECRET 'x1', REGION 'eu')"`, `duckdb -c "CREATE SECRET s (TYPE S3, KEY_ID '****', SECRET '****', REGION 'eu')"`],
    [`duckdb -c "create persistent secret (type postgres, password 'it''s x1', user 'app')"`, `duckdb -c "create persistent secret (type postgres, password '****', user 'app')"`],
    [`duckdb -c "SELECT 'secret' AS token, 'x' AS password"`, `duckdb -c "SELECT 'secret' AS token, 'x' AS password"`],
    ['yes x1 | passwd kim', 'yes **** | passwd kim'],
    ['yes | apt-get install x', 'yes | apt-get install x'],
    ['yes n | cp -i a b', 'yes n | cp -i a b'],
    ['medusa -h h -u admin -p x1 -M ssh', 'medusa -h h -u admin -p **** -M ssh'],
    ['nikto -h http://t -id admin:x1', 'nikto -h http://t -id admin:****'],
    ['tccli configure set secretKey x1', 'tccli configure set secretKey ****'],
    ['cbq -u admin -p x1 -e http://cb:8091', 'cbq -u admin -p **** -e http://cb:8091'],
    ['influx setup -u admin -p x1 -o org', 'influx setup -u admin -p **** -o org'],
    ['influx write -b b -p s -f data.lp', 'influx write -b b -p s -f data.lp'],
    ['geth --password pw.txt account new', 'geth --password pw.txt account new'],
    ['geth --password=pw.txt account new', 'geth --password=pw.txt account new'],
    // A URL password with # or ? in it, unencoded; a port and a query are no password.
    ["psql 'postgresql://app:x1#y@db/app'", 'psql postgresql://app:****@db/app'],
    ["psql 'postgresql://app:x1?y@db/app?sslmode=require'", "psql 'postgresql://app:****@db/app?sslmode=require'"],
    ["curl 'https://h:8443?next=@kim'", "curl 'https://h:8443?next=@kim'"],
    ["curl 'https://h/a?x=1#f@g'", "curl 'https://h/a?x=1#f@g'"],
    // Wrappers: the wrapped command's own rules; a subcommand wrapper only with its subcommand.
    ['valgrind --leak-check=full mysql -px1 shop', 'valgrind --leak-check=full mysql -p**** shop'],
    ['gdb --args mysql -px1 shop', 'gdb --args mysql -p**** shop'],
    ['perf record -g -- mysql -px1', 'perf record -g -- mysql -p****'],
    ['perf stat -e cycles mysql -px1', 'perf stat -e cycles mysql -p****'],
    ['bwrap --ro-bind / / --setenv A B mysql -px1 shop', 'bwrap --ro-bind / / --setenv A B mysql -p**** shop'],
    ['ip netns exec ns1 mysql -px1', 'ip netns exec ns1 mysql -p****'],
    ['chrt -b 0 mysql -px1', 'chrt -b 0 mysql -p****'],
    ['numactl --cpunodebind=0 -m 0 mysql -px1', 'numactl --cpunodebind=0 -m 0 mysql -p****'],
    ['machinectl shell kim@ /usr/bin/mysql -px1', 'machinectl shell kim@ /usr/bin/mysql -p****'],
    ['aws-vault exec prod -- mysql -px1', 'aws-vault exec prod -- mysql -p****'],
    ['op run --env-file=.env -- curl -u kim:x1 https://h', 'op run --env-file=.env -- curl -u kim:**** https://h'],
    ['mise exec node@20 -- mysql -px1', 'mise exec node@20 -- mysql -p****'],
    ['uv run --with requests mysql -px1', 'uv run --with requests mysql -p****'],
    ['poetry run mysql -px1', 'poetry run mysql -p****'],
    ['poetry config pypi-token.pypi x1', 'poetry config pypi-token.pypi ****'],
    ['npm exec -- mysql -px1', 'npm exec -- mysql -p****'],
    ['lxc exec c1 -- mysql -px1', 'lxc exec c1 -- mysql -p****'],
    ['distrobox enter deb -- mysql -px1', 'distrobox enter deb -- mysql -p****'],
    ["script -q -c 'mysql -px1' /dev/null", "script -q -c 'mysql -p****' /dev/null"],
    ["nix-shell -p mysql --run 'mysql -px1'", "nix-shell -p mysql --run 'mysql -p****'"],
    ["gcloud compute ssh vm1 --command='mysql -px1'", "gcloud compute ssh vm1 '--command=mysql -p****'"],
    ["vagrant ssh -c 'mysql -px1'", "vagrant ssh -c 'mysql -p****'"],
    // Secret flags as tools spell them; oathtool's --totp is a mode, and a Windows-style option's name decides.
    ['tool --pword x1 --mfa x2 --2fa x3 --puk x4 --passcode x5 --2fa-code x6', 'tool --pword **** --mfa **** --2fa **** --puk **** --passcode **** --2fa-code ****'],
    ['oathtool --totp -b KEY', 'oathtool --totp -b ****'],
    ['sqlpackage /TargetUser:sa /TargetPassword:x1 /SourceFile:a.dacpac', 'sqlpackage /TargetUser:sa /TargetPassword:**** /SourceFile:a.dacpac'],
    ['cp /etc/hosts /tmp/x', 'cp /etc/hosts /tmp/x'],
    // curl's config given as a process substitution; borg's passphrase on stdin; PostgreSQL's --password prompts; MongoDB's authSource.
    [`curl -K <(echo 'user = "kim:x1"') https://h`, 'curl -K <(echo ****) https://h'],
    ['borg init -e repokey /srv/b <<< x1', 'borg init -e repokey /srv/b <<< ****'],
    ['dropdb --host=db --password shop', 'dropdb --host=db --password shop'],
    // Publishing and CI tools; conan's -p is a password only where it logs in (-pr is a profile).
    ['dotnet nuget push a.nupkg -k x1 -s https://h/v3/index.json', 'dotnet nuget push a.nupkg -k **** -s https://h/v3/index.json'],
    ['vsce publish -p x1', 'vsce publish -p ****'],
    ['codecov -t x1', 'codecov -t ****'],
    ['conan remote login r kim -p x1', 'conan remote login r kim -p ****'],
    ['conan user -p x1 -r r kim', 'conan user -p **** -r r kim'],
    ['conan create . -pr default -pr:b build', 'conan create . -pr default -pr:b build'],
    ['expo login -u kim -p x1', 'expo login -u kim -p ****'],
    ['mvn sonar:sonar -Dsonar.login=x1', 'mvn sonar:sonar -Dsonar.login=****'],
    ['snyk auth x1', 'snyk auth ****'],
    ['glab variable set TOKEN x1', 'glab variable set TOKEN ****'],
    ['glab variable set REGION eu', 'glab variable set REGION eu'],
    // Hashing and encrypting: a password-hashing call's literal, caddy's --plaintext (not grpcurl's -plaintext), what is echoed into a hasher.
    [`python3 -c "bcrypt.hashpw(b'x1', bcrypt.gensalt())"`, `python3 -c "bcrypt.hashpw(b'****', bcrypt.gensalt())"`],
    [`node -e "bcrypt.hashSync('x1', 10)"`, `node -e "bcrypt.hashSync('****', 10)"`],
    [`node -e "crypto.createHash('sha256')"`, `node -e "crypto.createHash('sha256')"`],
    // Python keyring's set_password(service, user, password); a literal piped into Ansible's password_hash filter.
    [`python3 -c "keyring.set_password('svc', 'kim', 'x1')"`, `python3 -c "keyring.set_password('****', 'kim', '****')"`],
    [`ansible all -m user -a "name=kim password={{ 'x1' | password_hash('sha512') }}"`, `ansible all -m user -a "name=kim password=**** '****' | password_hash('****') }}"`],
    [`echo "{{ 'abc' | upper }}"`, `echo "{{ 'abc' | upper }}"`],
    // Dovecot: doveadm auth test [options] USER PASSWORD (after -x's value), doveadm pw -p; OpenLDAP's slappasswd -s.
    ['doveadm -D auth test -x service=imap kim x1 && doveadm auth test kim', 'doveadm -D auth test -x service=imap kim **** && doveadm auth test kim'],
    ['doveadm pw -s SHA512-CRYPT -p x1 && slappasswd -h {SSHA} -s x2', 'doveadm pw -s SHA512-CRYPT -p **** && slappasswd -h {SSHA} -s ****'],
    // Go's MySQL driver DSN: user:password@tcp(…), @unix(…); a user alone, or a mail address, is no DSN.
    ["migrate -dsn 'app:x1@tcp(db:3306)/app' up", "migrate -dsn 'app:****@tcp(db:3306)/app' up"],
    ["export MYSQL_DSN='root:x:2@unix(/run/m.sock)/db'", "export 'MYSQL_DSN=root:****@unix(/run/m.sock)/db'"],
    ["echo 'kim@tcp(x)' kim@ex.org", "echo 'kim@tcp(x)' kim@ex.org"],
    ['caddy hash-password --plaintext x1', 'caddy hash-password --plaintext ****'],
    ['grpcurl -plaintext localhost:50051 list', 'grpcurl -plaintext localhost:50051 list'],
    ['echo -n x1 | sha256sum', 'echo -n **** | sha256sum'],
    ['ccrypt -K x1 f', 'ccrypt -K **** f'],
    // bash's constructs: printf -v into a secret's variable, a test or case on one, a loop variable used as a secret, read into one.
    ["printf -v PGPASSWORD '%s' x1", "printf -v PGPASSWORD '%s' ****"],
    ["printf -v line '%s' x1", "printf -v line '%s' x1"],
    ['[ "$PW" = "x1" ] && echo ok', '[ "$PW" = **** ] && echo ok'],
    ['[[ x1 == $TOKEN ]]', '[[ **** == $TOKEN ]]'],
    ['[ "$mode" = token ]', '[ "$mode" = token ]'],
    ['case "$PW" in x1) echo y;; esac', 'case "$PW" in ****) echo y;; esac'],
    ['for t in x1 x2; do curl -H "X-Api-Key: $t" https://h; done', 'for t in **** ****; do curl -H "X-Api-Key: ****" https://h; done'],
    ['for f in a b; do gzip "$f"; done', 'for f in a b; do gzip "$f"; done'],
    ['read -r TOKEN <<< x1', 'read -r TOKEN <<< ****'],
    ['read -r name <<< x1', 'read -r name <<< x1'],
    // Machines and consoles; a setting switched on or off is no secret.
    ['qemu-system-x86_64 -vnc :1,password=on -object secret,id=s0,data=x1', 'qemu-system-x86_64 -vnc :1,password=on -object secret,id=s0,data=****'],
    ['PASSWORD_AUTH=no ./app', 'PASSWORD_AUTH=no ./app'],
    ['vmrun -gu kim -gp x1 list', 'vmrun -gu kim -gp **** list'],
    ['spicy -h h -p 5900 -w x1', 'spicy -h h -p 5900 -w ****'],
    ['pveum passwd kim@pve <<< x1', 'pveum passwd kim@pve <<< ****'],
    ['hostapd_cli wps_pin any x1', 'hostapd_cli wps_pin any ****'],
    // A tool's glued secret flag after its name, whatever runs it; a flag apart is left (a port after a container's name).
    ['newwrapper --x mysql -px1 shop', 'newwrapper --x mysql -p**** shop'],
    ['tool --name mysql -p 3306:3306 mysql:8', 'tool --name mysql -p 3306:3306 mysql:8'],
    ['find / -name mysql -prune -o -print', 'find / -name mysql -prune -o -print'],
    // Where a secret is, not the secret: a key's or credentials file given to a secret flag, a server's address named with auth; a PKI engine's request.
    ['cfssl gencert -ca ca.pem -ca-key ca-key.pem csr.json', 'cfssl gencert -ca ca.pem -ca-key ca-key.pem csr.json'],
    ['certbot certonly --dns-cloudflare-credentials ~/.secrets/cf.ini -d h', 'certbot certonly --dns-cloudflare-credentials ~/.secrets/cf.ini -d h'],
    ['tool --token abcdef', 'tool --token ****'],
    ['openstack --os-auth-url=https://keystone:5000/v3 --os-password x1 server list', 'openstack --os-auth-url=https://keystone:5000/v3 --os-password **** server list'],
    ['teleport start --token=x1 --auth-server=h:3025', 'teleport start --token=**** --auth-server=h:3025'],
    ['vault write pki/issue/web common_name=h ttl=24h', 'vault write pki/issue/web common_name=h ttl=24h'],
    ['vault write secret/app password=x1 user=kim', 'vault write secret/app password=**** user=****'],
    ['hdbsql -n h:30015 -u SYSTEM -p x1', 'hdbsql -n h:30015 -u SYSTEM -p ****'],
    ['tbsql kim/x1@db', 'tbsql kim/****@db'],
    ['b2 account authorize 0012ab x1', 'b2 account authorize 0012ab ****'],
    ['megals -u kim@ex.org -p x1', 'megals -u kim@ex.org -p ****'],
    ['gotty -c kim:x1 bash', 'gotty -c kim:**** bash'],
    ['filebrowser users add kim x1 --perm.admin', 'filebrowser users add kim **** --perm.admin'],
    ['dvc remote modify r url s3://b/p', 'dvc remote modify r url s3://b/p'],
    ['deluge-console "connect h:58846 kim x1; info"', 'deluge-console "connect h:58846 kim ****; info"'],
    // Registries and signing; composer's --auth takes no value.
    ['cargo login --registry my x1', 'cargo login --registry my ****'],
    ['composer config --auth http-basic.h kim x1', 'composer config --auth http-basic.h kim ****'],
    ["sbt 'set credentials += Credentials(\"Realm\", \"h\", \"kim\", \"x1\")'", "sbt 'set credentials += Credentials(\"Realm\", \"h\", \"kim\", \"****\")'"],
    ['fastlane match --git_basic_authorization x1', 'fastlane match --git_basic_authorization ****'],
    ['flutter pub token add https://h <<< x1', 'flutter pub token add https://h <<< ****'],
    // A control plane's argv: settings, key files and a flag's value after a boolean secret-named flag stay readable.
    ['kube-apiserver --authorization-mode=Node,RBAC --kubelet-client-key=/etc/k/kc.key --anonymous-auth=false', 'kube-apiserver --authorization-mode=Node,RBAC --kubelet-client-key=/etc/k/kc.key --anonymous-auth=false'],
    ['etcd --peer-client-cert-auth --trusted-ca-file=/etc/e/ca.crt', 'etcd --peer-client-cert-auth --trusted-ca-file=/etc/e/ca.crt'],
    ['kube-controller-manager --authentication-kubeconfig=/etc/k/cm.conf --use-service-account-credentials=true', 'kube-controller-manager --authentication-kubeconfig=/etc/k/cm.conf --use-service-account-credentials=true'],
    ['kube-apiserver --etcd-keyfile=/etc/k/e.key --enable-bootstrap-token-auth=true', 'kube-apiserver --etcd-keyfile=/etc/k/e.key --enable-bootstrap-token-auth=true'],
    ['kubeadm join h:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:12ab --certificate-key 0123abcd', 'kubeadm join h:6443 --token **** --discovery-token-ca-cert-hash sha256:12ab --certificate-key ****'],
    ['tool --password=pw.txt --token t.json', 'tool --password=**** --token ****'],
    ['tool --password=./pw.txt', 'tool --password=./pw.txt'],
    ["mount.davfs https://h/dav /mnt <<< $'kim\\nx1'", 'mount.davfs https://h/dav /mnt <<< ****'],
    ['psql --password=x1 shop', 'psql --password=**** shop'],
    ['mongosh "mongodb://kim:x1@h/db?authSource=admin&authMechanismProperties=AWS_SESSION_TOKEN:x2"', 'mongosh "mongodb://kim:****@h/db?authSource=admin&authMechanismProperties=****"'],
    // Ports stay readable: -P and -p are passwords only for the tools that say so.
    ['sftp -P 2222 kim@h', 'sftp -P 2222 kim@h'],
    ['psql -h db -p 5432 -U app -W shop', 'psql -h db -p 5432 -U app -W shop'],
    ['redis-cli -h cache -p 6379 -a x1 ping', 'redis-cli -h cache -p 6379 -a **** ping'],
    ['docker build --secret id=a,env=ghp_0123456789abcdefghijklmnopqrstuvwxyz .', 'docker build --secret **** .'],
    ["impala-shell -l --ldap_password_cmd='printf %s x1'", "impala-shell -l '--ldap_password_cmd=printf **** ****'"],
    ['rclone ls r: --password-command "cat <<< x1"', 'rclone ls r: --password-command "cat <<< ****"'],
    ["restic --password-command='echo x1 x2' init", "restic '--password-command=echo **** ****' init"],
    ['cryptsetup open f v --key-file <(echo -n x1)', 'cryptsetup open f v --key-file <(echo -n ****)'],
    ['gpg --passphrase-file <(printf x1) -d f.gpg', 'gpg --passphrase-file <(printf ****) -d f.gpg'],
    ['tool --config-file <(echo a=1)', 'tool --config-file <(echo a=1)'],
    ['make build-cmd', 'make build-cmd'],
    ['beeline -u jdbc:hive2://h:10000 -n kim -p x1', 'beeline -u jdbc:hive2://h:10000 -n kim -p ****'],
    // OTLP headers as name=value: the scheme word kept, credentials past a space hidden, Honeycomb's key header
    ['OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer x1,x-honeycomb-team=x2" ./app', "'OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer ****,x-honeycomb-team=****' ./app"],
    ["OTEL_EXPORTER_OTLP_HEADERS='Authorization=LumigoToken x1' ./app", 'OTEL_EXPORTER_OTLP_HEADERS=Authorization=**** ./app'],
    ['otelcol --set=exporters.otlp.headers.authorization="Basic x1"', "otelcol '--set=exporters.otlp.headers.authorization=Basic ****'"],
    ['curl -H "x-honeycomb-team: x1" https://api.honeycomb.io/1/auth', 'curl -H "x-honeycomb-team: ****" https://api.honeycomb.io/1/auth'],
    ['curl -d "authorization=Bearer x1&user=kim" h', 'curl -d "authorization=Bearer ****&user=kim" h'],
    ['echo auth=token', 'echo auth=****'],
    // a quote escaped in a JSON string (GraphQL in curl -d)
    [`curl -d '{"query":"login(password: \\"x1\\", user: \\"kim\\")"}' h`, `curl -d '{"query":"login(password: \\"****\\", user: \\"kim\\")"}' h`],
    // secret setters: KEY VALUE when the key is named like a secret
    ['netlify env:set API_KEY x1', 'netlify env:set API_KEY ****'],
    ['tmux setenv GITHUB_TOKEN x1', 'tmux setenv GITHUB_TOKEN ****'],
    ['tmux setenv EDITOR vim', 'tmux setenv EDITOR vim'],
    ['security add-generic-password -a kim -s svc -w x1', 'security add-generic-password -a kim -s svc -w ****'],
    ['echo x1 | pass insert -e db/pw', 'echo **** | pass insert -e db/pw'],
    // through wrappers: what the wrapped command reads on standard input
    ['sudo chpasswd <<< kim:x1', 'sudo chpasswd <<< ****'],
    ['echo x1 | sudo passwd --stdin kim', 'echo **** | sudo passwd --stdin kim'],
    ['npx wrangler secret put API_KEY <<< x1', 'npx wrangler secret put API_KEY <<< ****'],
    ['sudo -u kim apt-get install -y vim <<< y', 'sudo -u kim apt-get install -y vim <<< y'],
    ['sudo -S apt-get update <<< x1', 'sudo -S apt-get update <<< ****'],
    ['gh secret set API_KEY <<< x1', 'gh secret set API_KEY <<< ****'],
    // glued to -b or --body= (gh secret's only flag that starts with -b); a positional word with a b second stays
    ['gh secret set abc -b"x1" -r o/r && gh secret set K --body=x2', 'gh secret set abc -b**** -r o/r && gh secret set K --body=****'],
    ["ftp -n h1 <<< 'user kim x1'", "ftp -n h1 <<< 'user kim ****'"],
    // a script inside a word the command's rules changed: hidden whole when its own rules hide something
    ["mysql --defaults-extra-file=<(printf '[client]\\npassword=%s\\n' x1) shop", 'mysql --defaults-extra-file=<(****) shop'],
    ["printf -v cfg 'token=%s' x1", 'printf -v cfg token=**** ****'],
    ["printf '%s\\n' a b", "printf '%s\\n' a b"],
    // csh's setenv, fish's set, unixODBC's isql with options first, ab's user flags
    ["fish -c 'set -gx API_TOKEN x1; ./deploy'", "fish -c 'set -gx API_TOKEN ****; ./deploy'"],
    ['setenv DB_PASSWORD x1', 'setenv DB_PASSWORD ****'],
    ['setenv EDITOR vim', 'setenv EDITOR vim'],
    ['set -o vi', 'set -o vi'],
    ['isql -v mydsn kim x1', 'isql -v mydsn kim ****'],
    ['isql -U sa -P x1 -S srv', 'isql -U sa -P **** -S srv'],
    ['ab -n 10 -A kim:x1 -P kim:x2 http://h/', 'ab -n 10 -A kim:**** -P kim:**** http://h/'],
    // PINs and one-time passwords: flags, names, a URL's query
    ['pkcs11-tool --login --so-pin x1 --init-pin --new-pin x2', 'pkcs11-tool --login --so-pin **** --init-pin --new-pin ****'],
    ['ykman piv keys generate --pin x1 9a pub.pem', 'ykman piv keys generate --pin **** 9a pub.pem'],
    ['p11tool --login --set-pin=x1 --list-all', 'p11tool --login --set-pin=**** --list-all'],
    ['oathtool --totp -b x1', 'oathtool --totp -b ****'],
    ['tpm2_nvdefine -P x1 0x1500016', 'tpm2_nvdefine -P **** 0x1500016'],
    ['tpm2_changeauth -c owner x1', 'tpm2_changeauth -c owner ****'],
    ['curl "https://h/cb?state=abc&code=x1"', 'curl "https://h/cb?state=abc&code=****"'],
    ['go run . --spin --totp EXIT_CODE=1 country_code=US', 'go run . --spin --totp EXIT_CODE=1 country_code=US'],
    ['curl "https://h/search?q=code&code_style=x"', 'curl "https://h/search?q=code&code_style=x"'],
    // commands run on many hosts, and by systemd-run: their own rules
    ["pdsh -w h[1-3] 'mysql -px1 -e status'", "pdsh -w h[1-3] 'mysql -p**** -e status'"],
    ["clush -w h1,h2 'redis-cli -a x1 ping'", "clush -w h1,h2 'redis-cli -a **** ping'"],
    ['pdsh -w h1 uptime', 'pdsh -w h1 uptime'],
    ["salt '*' cmd.run 'mysql -px1 -e status'", "salt '*' cmd.run 'mysql -p**** -e status'"],
    ["salt '*' test.ping", "salt '*' test.ping"],
    ["ansible all -m shell -a 'mysql -px1 -e status'", "ansible all -m shell -a 'mysql -p**** -e status'"],
    ["ansible all -m user -a 'name=kim password=x1'", "ansible all -m user -a 'name=kim password=****'"],
    ["systemd-run --unit x sh -c 'mysql -px1'", "systemd-run --unit x sh -c 'mysql -p****'"],
    ['systemd-run --user -p MemoryMax=1G make -j4', 'systemd-run --user -p MemoryMax=1G make -j4'],
    // tool by tool
    ['az sql server create -n s -g g -u kim -p x1', 'az sql server create -n s -g g -u kim -p ****'],
    ['az deployment group create -g g -f main.bicep -p @params.json', 'az deployment group create -g g -f main.bicep -p @params.json'],
    ['http -A bearer -a x1 https://h', 'http -A bearer -a **** https://h'],
    ['http -a kim:x1 https://h', 'http -a kim:**** https://h'],
    ['impacket-psexec corp/kim:x1@10.0.0.5', 'impacket-psexec corp/kim:****@10.0.0.5'],
    ['curlftpfs kim:x1@ftp.example.com /mnt/ftp', 'curlftpfs kim:****@ftp.example.com /mnt/ftp'],
    ['docker pull nginx:1.25@sha256:0123456789abcdef', 'docker pull nginx:1.25@sha256:0123456789abcdef'],
    ['evil-winrm -u kim -H x1 -i h', 'evil-winrm -u kim -H **** -i h'],
    ['memtier_benchmark -s h -a x1', 'memtier_benchmark -s h -a ****'],
    ['kubeadm token create x1.0123456789abcdef', 'kubeadm token create ****'],
    ['openconnect -u kim --passwd-on-stdin vpn.example.com <<< x1', 'openconnect -u kim --passwd-on-stdin vpn.example.com <<< ****'],
    ["net use '\\\\h\\s' x1 /user:kim", "net use '\\\\h\\s' **** /user:kim"],
    ['net use //h/s x1 /user:kim', 'net use //h/s **** /user:kim'],
    // python -m MODULE: the module's rules; PowerShell's -Command; gem servers, ZooKeeper, LLM keys
    ['python -m twine upload -u __token__ -p x1 dist/*', 'python -m twine upload -u __token__ -p **** dist/*'],
    ['python3 -m http.server 8000', 'python3 -m http.server 8000'],
    [`pwsh -c "ConvertTo-SecureString 'x1' -AsPlainText -Force"`, 'pwsh -c "ConvertTo-SecureString **** -AsPlainText -Force"'],
    ['pwsh -Command Get-Process', 'pwsh -Command Get-Process'],
    ['bundle config set --global gems.example.com kim:x1', 'bundle config set --global gems.example.com ****'],
    ['bundle config set --local path vendor/bundle', 'bundle config set --local path vendor/bundle'],
    ['bundle config build.nokogiri --use-system-libraries', 'bundle config build.nokogiri --use-system-libraries'],
    ['zkCli.sh -server h:2181 addauth digest kim:x1', 'zkCli.sh -server h:2181 addauth digest kim:****'],
    ['llm keys set openai --value x1', 'llm keys set openai --value ****'],
    ['llm keys set openai <<< x1', 'llm keys set openai <<< ****'],
    ['hatch publish -u __token__ -a x1', 'hatch publish -u __token__ -a ****'],
    ['racadm -r h -u root -p x1 getsysinfo', 'racadm -r h -u root -p **** getsysinfo'],
    ['swift -A https://h/auth/v1.0 -U kim -K x1 list', 'swift -A https://h/auth/v1.0 -U kim -K **** list'],
    ['7zz x -px1 b.7z', '7zz x -p**** b.7z'],
    // curl's --key is a file (its passphrase is --pass)
    ['curl --pass x1 --key k.pem --cert c.pem https://h', 'curl --pass **** --key k.pem --cert c.pem https://h'],
    // written into a file named like a secret (not a public key's), or by tee
    ['echo x1 > ~/.vault-token', 'echo **** > ~/.vault-token'],
    ["printf '%s' x1 >> /run/secrets/db_password", 'printf **** **** >> /run/secrets/db_password'],
    ['echo x1 | sudo tee /etc/app/api_key', 'echo **** | sudo tee /etc/app/api_key'],
    ['echo "ssh-ed25519 AAAAC3Nza kim@h" >> ~/.ssh/authorized_keys', 'echo "ssh-ed25519 AAAAC3Nza kim@h" >> ~/.ssh/authorized_keys'],
    ['echo "reset the password for kim" > notes.txt', 'echo "reset the password for kim" > notes.txt'],
    ["echo 'db1:5432:shop:app:x1' >> ~/.pgpass", 'echo db1:5432:shop:app:**** >> ~/.pgpass'],
    // setters of a key named like a secret; sops; sed's replacement; a password file glued to its flag
    ['cf set-env app DB_PASSWORD x1', 'cf set-env app DB_PASSWORD ****'],
    ['cf set-env app LOG_LEVEL debug', 'cf set-env app LOG_LEVEL debug'],
    ['crudini --set app.ini db password x1', 'crudini --set app.ini db password ****'],
    ["gsettings set org.gnome.x password 'x1'", 'gsettings set org.gnome.x password ****'],
    ['gsettings set org.gnome.desktop.interface clock-format 24h', 'gsettings set org.gnome.desktop.interface clock-format 24h'],
    [`dconf write /org/x/password "'x1'"`, 'dconf write /org/x/password ****'],
    ['kubectl config set users.kim.token x1', 'kubectl config set users.kim.token ****'],
    ['kubectl config set-context --current --namespace=web', 'kubectl config set-context --current --namespace=web'],
    [`sops --set '["db"]["password"] "x1"' s.yaml`, `sops --set '["db"]["password"] ****' s.yaml`],
    ["sed -i 's/password: .*/password: x1/' c.yml", "sed -i 's/password: .*/password: ****/' c.yml"],
    ["sed -i 's/^port: .*/port: 8080/' c.yml", "sed -i 's/^port: .*/port: 8080/' c.yml"],
    ['mosquitto_passwd -b /etc/mosquitto/passwd kim x1', 'mosquitto_passwd -b /etc/mosquitto/passwd kim ****'],
    ['initdb -D /db --pwfile=<(echo x1)', 'initdb -D /db --pwfile=<(echo ****)'],
    ['systemd-creds encrypt --name=db - /etc/creds/db <<< x1', 'systemd-creds encrypt --name=db - /etc/creds/db <<< ****'],
    // monitoring plugins, MongoDB's auth calls, flags ending in authkey, secretkey, privatekey
    ['check_http -H h -a kim:x1', 'check_http -H h -a kim:****'],
    ['check_mysql -H db -u kim -p x1', 'check_mysql -H db -u kim -p ****'],
    ['check_ldap -H h -b dc=ex -D cn=kim -P x1', 'check_ldap -H h -b dc=ex -D cn=kim -P ****'],
    [`mongosh --eval "db.auth('kim', 'x1')"`, `mongosh --eval "db.auth('kim', '****')"`],
    ['tailscale up --authkey tskey-auth-x1', 'tailscale up --authkey ****'],
    // secret stores' setters, and what is encrypted or encoded from standard input
    ['drone secret add --repository o/r --name token --data x1', 'drone secret add --repository o/r --name token --data ****'],
    ['circleci context store-secret org ctx API_KEY <<< x1', 'circleci context store-secret org ctx API_KEY <<< ****'],
    ['gcloud secrets versions add db --data-file=<(echo -n x1)', 'gcloud secrets versions add db --data-file=<(echo -n ****)'],
    ['kubectl create secret generic s --from-file=pw=<(echo -n x1)', 'kubectl create secret generic s --from-file=pw=<(echo -n ****)'],
    ['bw send -n s x1', 'bw send -n s ****'],
    ['echo -n x1 | base64', 'echo -n **** | base64'],
    ['echo aGVsbG8= | base64 -d', 'echo aGVsbG8= | base64 -d'],
    ['age -r age1abc -o out.age <<< x1', 'age -r age1abc -o out.age <<< ****'],
    ['gpg --encrypt -r kim <<< x1', 'gpg --encrypt -r kim <<< ****'],
    ['kubectl get secrets', 'kubectl get secrets'],
    // an alias's command line; a versioned program name
    ["alias deploy='curl -u kim:x1 https://h/deploy'", "alias 'deploy=curl -u kim:**** https://h/deploy'"],
    ["alias ll='ls -la'", "alias ll='ls -la'"],
    ['mysql8 -px1', 'mysql8 -p****'],
    ['mysql-8.0 -px1', 'mysql-8.0 -p****'],
  ];
  for (const [input, output] of exact) it(`exact: ${JSON.stringify(input)}`, () => assert.equal(r.line(input), output));

  it('argument lists', () => {
    assert.deepEqual(r.args(['mysql', '-p', 'hunter2', '--password=x', 'TOKEN=y', 'https://a:b@h']), ['mysql', '-p', REDACTED, '--password=****', 'TOKEN=****', 'https://a:****@h']);
    assert.deepEqual(r.args(['/bin/sh', '-c', 'curl -u a:b http://h']), ['/bin/sh', '-c', 'curl -u a:**** http://h']);
    assert.deepEqual(r.args(['tmux', '-L', 's', 'send-keys', '-t', 't', '-l', 'mysql -phunter2']), ['tmux', '-L', 's', 'send-keys', '-t', 't', '-l', 'mysql -p****']);
    // A script as the kernel sees it after #! (the interpreter first).
    assert.deepEqual(r.args(['/bin/sh', '/usr/local/bin/mysql', '-phunter2']), ['/bin/sh', '/usr/local/bin/mysql', '-p****']);
    assert.deepEqual(r.args(['python3', './sshpass', '-p', 'x']), ['python3', './sshpass', '-p', '****']);
  });

  it('programs named like Object properties', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.deepEqual(r.args([name, '-p', 'x', '--password=y']), [name, '-p', 'x', '--password=****']);
      assert.equal(r.line(`${name} --token z`), `${name} --token ****`);
    }
  });

  it('can be switched off', () => {
    const off = createRedactor(false);
    assert.equal(off.line('mysql -phunter2'), 'mysql -phunter2');
    assert.deepEqual(off.args(['-p', 'x']), ['-p', 'x']);
  });

  it('survives unfinished input (open quotes, a cut line, deep nesting)', () => {
    assert.ok(!r.line('curl -H "Authorization: Bearer abc123').includes('abc123'));
    assert.ok(!r.line("mysql -p'abc123").includes('abc123'));
    let deep = 'mysql -pabc123';
    for (let i = 0; i < 8; i++) deep = `sh -c ${quoteWord(deep, false)}`;
    assert.ok(!r.line(deep).includes('abc123'));
  });
});

describe('linear-time matching', () => {
  it('refuses patterns RE2 cannot run in linear time, with the reason', () => {
    assert.throws(() => compileUserPattern('(a)\\1'), /RE2 syntax.*no backreferences/);
    assert.throws(() => compileUserPattern('(?=secret)\\w+'), /lookahead/);
    assert.throws(() => compileUserPattern('x*'), /empty string/);
  });

  it('a catastrophic-backtracking pattern finishes on 4 KiB (V8 would not)', () => {
    const p = compileUserPattern('(a+)+$');
    const hostile = `${'a'.repeat(4096)}!`;
    assert.equal(p.replace(hostile, REDACTED), hostile);
  });

  it('the built-in rules finish on hostile 4 KiB arguments', () => {
    const hostile = [
      '='.repeat(4096),
      'a='.repeat(2048),
      ':'.repeat(4096),
      'password:'.repeat(455),
      '://@'.repeat(1024),
      'x://'.repeat(1024),
      '$('.repeat(2048),
      '"'.repeat(4096),
      '`'.repeat(4096),
      'token=&'.repeat(585),
      'ghp_'.repeat(1024),
      'watch '.repeat(680),
      'sudo '.repeat(800),
      'sh /x '.repeat(680),
      'eval '.repeat(800),
      'ssh h '.repeat(680),
      `-p${'\\'.repeat(4094)}`,
      '://hooks.slack.com/services/'.repeat(146),
      'pass:'.repeat(819),
      'x-'.repeat(2048),
      "password '".repeat(409),
      `password${' '.repeat(4080)}'`,
      'token = '.repeat(512),
      `token${' '.repeat(2040)}=${' '.repeat(2040)}"`,
      'token |= "'.repeat(409),
      ' = '.repeat(1365),
      '--key-file='.repeat(372),
      'PASSWORD('.repeat(455),
      "IDENTIFIED BY '".repeat(273),
      '://api.telegram.org/bot'.repeat(178),
      'docker exec '.repeat(341),
      'kubectl exec -- '.repeat(256),
      'mc alias set '.repeat(315),
      'x <<< '.repeat(682),
      '/p:'.repeat(1365),
      '--password-command '.repeat(215),
      `-${'a-'.repeat(2040)}pass_cmd`,
      `--${'a-'.repeat(2040)}x=${'y'.repeat(10)}`,
      '--key-file <(echo '.repeat(227),
      'Authorization=Bearer '.repeat(195),
      'authorization=a '.repeat(256),
      'password: \\"'.repeat(341),
      'npx '.repeat(1024),
      '--init-pin '.repeat(372),
      `--password=${'$(a)'.repeat(1020)}`,
      `--password=${Array.from({ length: 400 }, (_, i) => `$(echo ${i})`).join('')}`,
      '--password=$(echo x) '.repeat(195),
      '?code='.repeat(682),
      'pdsh -w h '.repeat(409),
      'salt cmd.run '.repeat(315),
      'ansible -a '.repeat(372),
      'impacket-psexec a:b@'.repeat(204),
      'python -m '.repeat(409),
      'pwsh -c '.repeat(512),
      'bundle config '.repeat(292),
      'echo x > f_token '.repeat(240),
      `sed ${'s/password: x/password: y/ '.repeat(140)}`,
      `sops --set ${'['.repeat(4000)}`,
      `xmlstarlet ed ${'-u //password -v '.repeat(240)}`,
      `docker build ${'--secret id=a,env=B '.repeat(200)}`,
      `docker build --secret ${'id=a,'.repeat(819)}`,
      `--password=${' '.repeat(4080)}x`,
      `--password=${'a '.repeat(2040)}`,
      `--password=${' b=c'.repeat(1020)}`,
      `--from-literal=password=${'\t '.repeat(2040)}`,
      'create secret ('.repeat(273),
      `create secret (${"a '".repeat(1360)}`,
      `create secret (${"    '".repeat(816)}`,
      `create secret (password '${"'".repeat(4000)}`,
      `create${' '.repeat(4080)}x`,
      `create or replace${' '.repeat(4080)}x`,
      'x://a:b#@'.repeat(455),
      'x://a:b?'.repeat(512),
      `x://a:b#${'?'.repeat(4000)}@`,
      'mise exec a '.repeat(341),
      'lxc exec c '.repeat(372),
      `bwrap ${'--bind a '.repeat(455)}`,
      'ip netns exec n '.repeat(256),
      `script ${'-c '.repeat(1365)}`,
      "hash('".repeat(682),
      `hash('${'a'.repeat(4090)}`,
      "login('a', 'b".repeat(315),
      `${'hash'.repeat(1023)}(`,
      `deluge-console "connect ${'a '.repeat(2040)}"`,
      `deluge-console "${'connect a a a;'.repeat(290)}"`,
    ];
    for (const h of hostile) {
      r.line(h);
      r.args(['mysql', h, h]);
      r.args(h.split(' '));
    }
    assert.equal(r.line(`${'sudo '.repeat(20)}mysql -px`), `${'sudo '.repeat(9)}${'**** '.repeat(11)}**** ****`);
    // At most 512 simple commands are read per line or argv, scripts inside included; the rest is hidden whole.
    assert.equal(r.line('a;'.repeat(512)), 'a;'.repeat(512));
    assert.equal(r.line(`${'a;'.repeat(512)}mysql -px;`), `${'a;'.repeat(512)}****`);
    assert.deepEqual(r.args(['sh', '-c', `${'a;'.repeat(600)}`]), ['sh', '-c', `${'a;'.repeat(512)}****`]);
    const nested = r.line('echo $(a); '.repeat(300)); // 300 commands read, then 212 of their scripts
    assert.ok(nested.startsWith('echo $(a); ') && nested.endsWith('echo $(****); '), nested.slice(-40));
  });
});

describe('fast paths: the same output as the rules before them (digests in test/fixtures/redaction-golden.json)', () => {
  it('every token prefix is found where it starts, and not after a letter or digit', () => {
    for (const prefix of TOKEN_PREFIX_LIST) {
      assert.deepEqual(tokenStarts(`x ${prefix}`), [[2, prefix.length]], prefix);
      assert.deepEqual(tokenStarts(`${prefix}x\0${prefix}`), [[0, prefix.length], [prefix.length + 2, prefix.length]], prefix);
      assert.deepEqual(tokenStarts(`x${prefix}`), [], prefix);
    }
  });

  it('the corpus, the benchmark argv, hostile 4 KiB words and 20,000 generated argument lists redact as at 18dce12', () => {
    const expected = JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as Record<string, string>;
    const actual = goldenDigests(goldenRedactor());
    assert.deepEqual(Object.keys(actual), Object.keys(expected), 'the cases themselves changed: rewrite the file (test/helpers/redaction-golden.ts says how)');
    const differ = Object.keys(expected).filter((name) => actual[name] !== expected[name]);
    assert.deepEqual(differ, [], `redaction output changed for: ${differ.slice(0, 10).join(' | ')}`);
  });
});

describe('argv that differ in a few words (commands/recent-argv.ts): the same output as redacting each alone', () => {
  // The golden cases' pieces, glued into words (and padded: long argv are what is kept).
  const pieces = RULE_PIECES;
  const next = seededRandom(0x1b873593);
  const word = (): string => Array.from({ length: 1 + next(8) }, () => pieces[next(pieces.length)] as string).join('') + 'v'.repeat(next(3) * 10);

  it('a program run again and again with a few words changed each time (2,000 argv)', () => {
    const withHistory = createRedactor(true, [compileUserPattern('sk_live_[A-Za-z0-9]+')]);
    let used = 0;
    for (const program of ['curl', 'mysql', 'sh', 'sudo', '/usr/bin/java']) {
      let argv = [program, ...Array.from({ length: 8 + next(40) }, word)];
      for (let step = 0; step < 400; step++) {
        argv = argv.slice();
        // Mostly one or two words, at times many (past a quarter: the usual way), at times none.
        const changes = next(10) === 0 ? argv.length : next(3);
        for (let c = 0; c < changes; c++) argv[1 + next(argv.length - 1)] = next(4) === 0 ? (pieces[next(pieces.length)] as string) : word();
        const joined = argv.join('\0');
        if (joined.length >= 256) used++;
        // A fresh redactor each time has no history (and without `joined` none is kept).
        const alone = createRedactor(true, [compileUserPattern('sk_live_[A-Za-z0-9]+')]).args(argv);
        assert.deepEqual(withHistory.args(argv, joined), alone, joined);
      }
    }
    assert.ok(used > 1500, `${used} argv long enough to be kept`);
  });

  it('sharedEnds: the words it says are shared are the same words at the same index (30,000 pairs)', () => {
    // Short words and one-letter alphabets, so that words shift across NULs, merge and split while
    // the lengths and the word counts stay equal: what a comparison by characters could mistake.
    const letters = (n: number): string => Array.from({ length: n }, () => 'ab'[next(2)] as string).join('');
    let sharedSeen = 0;
    for (let pair = 0; pair < 30_000; pair++) {
      const count = 2 + next(120);
      const last = Array.from({ length: count }, () => letters(next(4) === 0 ? next(3) : next(60)));
      const words = last.slice();
      const edits = next(4);
      for (let e = 0; e < edits; e++) {
        const i = next(count);
        const kind = next(3);
        if (kind === 0) words[i] = letters((words[i] as string).length); // same length, other letters
        else if (kind === 1) words[i] = letters(next(60)); // another length
        else if (i + 1 < count) {
          // A NUL moved: two words keep their joint length.
          const both = `${words[i] as string}${words[i + 1] as string}`;
          const cut = next(both.length + 1);
          words[i] = both.slice(0, cut);
          words[i + 1] = both.slice(cut);
        }
      }
      const [before, from] = sharedEnds(words, words.join('\0'), last.join('\0'));
      for (let i = 0; i < before; i++) assert.equal(words[i], last[i], `word ${i} said shared from the start`);
      for (let i = from; i < count; i++) assert.equal(words[i], last[i], `word ${i} said shared to the end`);
      sharedSeen += before + (count - from);
    }
    assert.ok(sharedSeen > 100_000, `${sharedSeen} words found shared: the chunks are used`);
  });

  it('a secret typed into a word that was plain the time before is redacted', () => {
    const r = createRedactor(true);
    const base = ['/usr/bin/curl', ...Array.from({ length: 15 }, (_, i) => `--header-${i}=${'plain'.repeat(4)}`)];
    assert.deepEqual(r.args(base, base.join('\0')), base);
    const secret = base.slice();
    secret[7] = '--password=Zq81recent';
    const out = r.args(secret, secret.join('\0'));
    assert.equal(out[7], `--password=${REDACTED}`);
    assert.ok(!out.join(' ').includes('Zq81recent'));
    // And the word after a flag that takes a secret, though only the flag changed.
    const flag = base.slice();
    flag[7] = '--password';
    assert.equal(r.args(flag, flag.join('\0'))[8], REDACTED);
  });

  it('holds the raw argv RECENT_ARGV_TTL_MS at most, then drops it on its own', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 5_000;
    let allWords = 0;
    const recent = new RecentArgvText((words) => {
      allWords++;
      return words.map((w) => w.toUpperCase());
    }, (w) => w.toUpperCase(), () => now);
    const argv = ['/bin/x', ...Array.from({ length: 10 }, (_, i) => `word-${i}-${'y'.repeat(30)}`)];
    const joined = argv.join('\0');
    assert.deepEqual(recent.textRules(argv, joined), argv.map((w) => w.toUpperCase()));
    const changed = argv.slice();
    changed[3] = 'other';
    assert.deepEqual(recent.textRules(changed, changed.join('\0')), changed.map((w) => w.toUpperCase()));
    assert.equal(allWords, 1, 'the second argv went word by word, from the first');
    now += RECENT_ARGV_TTL_MS;
    t.mock.timers.tick(RECENT_ARGV_TTL_MS);
    assert.equal(recent.size, 0);
    recent.textRules(argv, joined);
    assert.equal(allWords, 2, 'expired: the whole argv again');
  });
});
