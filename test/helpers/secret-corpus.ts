/**
 * Secret-bearing command lines as people type them, one or more per
 * redaction rule (README, Redaction). Each secret contains "Zq" followed by
 * digits so a leak is found by a plain search; `keep` lists words that must
 * stay readable. Used by the unit test (redactor alone) and by the kernel test
 * (typed into a real bash and executed as argv, with stub programs).
 */
export interface SecretCase {
  readonly category: string;
  readonly line: string;
  readonly secrets: readonly string[];
  readonly keep: readonly string[];
  /** Lines that only make sense typed (bash expands them into argv). */
  readonly typedOnly?: boolean;
}

export const SECRET_CORPUS: readonly SecretCase[] = [
  // glued short flags, by tool
  { category: 'glued', line: 'mysql -uroot -phuntZq01 shop', secrets: ['huntZq01'], keep: ['mysql', '-uroot', 'shop'] },
  { category: 'glued', line: "mysql -u root -p'pa ssZq02' -h db1 shop", secrets: ['ssZq02'], keep: ['db1', 'shop'] },
  { category: 'glued', line: 'mysqldump -pZq03secret --all-databases', secrets: ['Zq03secret'], keep: ['mysqldump', '--all-databases'] },
  { category: 'glued', line: 'sshpass -pZq04pw ssh admin@web1 uptime', secrets: ['Zq04pw'], keep: ['sshpass', 'uptime'] },
  { category: 'glued', line: 'sshpass -p Zq05pw scp a.txt web1:', secrets: ['Zq05pw'], keep: ['a.txt'] },
  { category: 'glued', line: 'redis-cli -h cache1 -a Zq06redis ping', secrets: ['Zq06redis'], keep: ['cache1', 'ping'] },
  { category: 'glued', line: '7z x -pZq07zip backup.7z', secrets: ['Zq07zip'], keep: ['backup.7z'] },
  { category: 'glued', line: 'ldapsearch -x -D cn=admin -w Zq08ldap -b dc=ex', secrets: ['Zq08ldap'], keep: ['ldapsearch', 'cn=admin'] },
  { category: 'glued', line: 'docker login -u ci -p Zq09reg registry.example', secrets: ['Zq09reg'], keep: ['registry.example'] },
  { category: 'glued', line: 'mongosh -u app -p Zq10mongo --host m1', secrets: ['Zq10mongo'], keep: ['mongosh', 'm1'] },
  // user:password
  { category: 'user', line: 'curl -u alice:Zq11pw https://api.example/v1', secrets: ['Zq11pw'], keep: ['alice', 'https://api.example/v1'] },
  { category: 'user', line: 'curl --user "bob:Zq12 pw" -s http://h/x', secrets: ['Zq12'], keep: ['bob'] },
  { category: 'user', line: 'curl -ucarol:Zq13pw http://h/', secrets: ['Zq13pw'], keep: ['carol'] },
  { category: 'user', line: 'wget --user=dave --password=Zq14pw http://h/f', secrets: ['Zq14pw'], keep: ['--user=dave'] },
  { category: 'user', line: 'smbclient //fs/share -U eve%Zq15pw', secrets: ['Zq15pw'], keep: ['eve'] },
  { category: 'user', line: 'http -a frank:Zq16pw GET api.example', secrets: ['Zq16pw'], keep: ['frank'] },
  // headers
  { category: 'header', line: "curl -H 'Authorization: Bearer Zq17tok' https://api.example", secrets: ['Zq17tok'], keep: ['Authorization:', 'Bearer'] },
  { category: 'header', line: 'curl -H "X-Api-Key: Zq18key" http://h/', secrets: ['Zq18key'], keep: ['X-Api-Key:'] },
  { category: 'header', line: "curl --header 'PRIVATE-TOKEN: Zq19glab' https://gitlab.example/api", secrets: ['Zq19glab'], keep: ['PRIVATE-TOKEN:'] },
  { category: 'header', line: "curl -H 'Cookie: theme=dark; session=Zq20sess' http://h/", secrets: ['Zq20sess'], keep: ['Cookie:'] },
  { category: 'header', line: "curl -H 'Proxy-Authorization: Basic Zq21b64' http://h/", secrets: ['Zq21b64'], keep: ['Proxy-Authorization:'] },
  { category: 'header', line: "curl -H 'X-Auth-Token:Zq22tok' http://h/", secrets: ['Zq22tok'], keep: ['curl'] },
  { category: 'header', line: 'http GET api.example X-Session-Id:Zq23sid', secrets: ['Zq23sid'], keep: ['GET'] },
  { category: 'header', line: "git -c http.extraHeader='Authorization: token Zq24git' clone https://gh.example/r", secrets: ['Zq24git'], keep: ['clone'] },
  { category: 'header', line: 'curl -b session=Zq25ck http://h/', secrets: ['Zq25ck'], keep: ['http://h/'] },
  // URLs
  { category: 'url', line: 'git clone https://bob:Zq26pat@gh.example/org/repo.git', secrets: ['Zq26pat'], keep: ['bob', 'gh.example/org/repo.git'] },
  { category: 'url', line: 'psql postgresql://app:Zq27pg@db1:5432/shop', secrets: ['Zq27pg'], keep: ['psql', 'db1:5432/shop'] },
  { category: 'url', line: 'git clone https://ghp_Zq28aaaabbbbccccdddd@gh.example/r.git', secrets: ['Zq28aaaabbbbccccdddd'], keep: ['gh.example/r.git'] },
  { category: 'url', line: 'redis-cli -u redis://:Zq29red@cache1:6379', secrets: ['Zq29red'], keep: ['cache1:6379'] },
  // query strings and form bodies
  { category: 'query', line: "curl 'https://api.example/cb?code=1&access_token=Zq30at&x=2'", secrets: ['Zq30at'], keep: ['x=2', 'code=1'] },
  { category: 'query', line: 'curl -d client_id=app -d client_secret=Zq31cs https://idp.example/token', secrets: ['Zq31cs'], keep: ['client_id=app'] },
  { category: 'query', line: "curl -d 'username=gina&password=Zq32pw&remember=1' http://h/login", secrets: ['Zq32pw'], keep: ['username=gina', 'remember=1'] },
  { category: 'query', line: 'wget "http://h/dl?api_key=Zq33ak"', secrets: ['Zq33ak'], keep: ['wget'] },
  { category: 'query', line: "curl -d '{\"user\":\"hal\",\"password\":\"Zq34js\"}' http://h/", secrets: ['Zq34js'], keep: ['hal'] },
  { category: 'query', line: 'curl "https://s3.example/b/o?X-Amz-Signature=Zq35sig&X-Amz-Date=1"', secrets: ['Zq35sig'], keep: ['X-Amz-Date=1'] },
  // KEY=value anywhere in a word
  { category: 'assign', line: 'DB_PASSWORD=Zq36db ./migrate.sh', secrets: ['Zq36db'], keep: ['./migrate.sh'] },
  { category: 'assign', line: "export GITHUB_TOKEN='Zq37gh'", secrets: ['Zq37gh'], keep: ['export'] },
  { category: 'assign', line: 'docker run --env=DB_PASSWORD=Zq38db -e MODE=prod app', secrets: ['Zq38db'], keep: ['MODE=prod', 'app'] },
  { category: 'assign', line: 'kubectl create secret generic s --from-literal=password=Zq39k8s', secrets: ['Zq39k8s'], keep: ['generic'] },
  { category: 'assign', line: 'java -Djavax.net.ssl.keyStorePassword=Zq40jks -jar app.jar', secrets: ['Zq40jks'], keep: ['app.jar'] },
  { category: 'assign', line: 'psql "host=db1 user=app password=Zq41conn dbname=shop"', secrets: ['Zq41conn'], keep: ['dbname=shop', 'host=db1'] },
  { category: 'assign', line: 'env AWS_SECRET_ACCESS_KEY=Zq42aws aws s3 ls', secrets: ['Zq42aws'], keep: ['s3'] },
  { category: 'assign', line: 'mount -o username=ivy,password=Zq43smb //fs/s /mnt', secrets: ['Zq43smb'], keep: ['username=ivy', '/mnt'] },
  { category: 'assign', line: 'echo "api_key = x" && API_KEY="Zq44 spaced" ./run', secrets: ['Zq44'], keep: ['./run'] },
  // scripts inside arguments
  { category: 'script', line: 'sh -c "mysql -pZq45sh shop"', secrets: ['Zq45sh'], keep: ['shop'] },
  { category: 'script', line: "bash -c 'curl -u jo:Zq46bc http://h/'", secrets: ['Zq46bc'], keep: ['jo'] },
  { category: 'script', line: "su -c 'redis-cli -a Zq47su ping' root", secrets: ['Zq47su'], keep: ['ping'] },
  { category: 'script', line: "sudo sh -c 'echo token=Zq48sudo > /tmp/x'", secrets: ['Zq48sudo'], keep: ['/tmp/x'] },
  { category: 'script', line: "ssh web1 'mysql -u root -pZq49ssh -e status'", secrets: ['Zq49ssh'], keep: ['web1'] },
  { category: 'script', line: 'sudo -u app env PGPASSWORD=Zq50pg psql -h db1', secrets: ['Zq50pg'], keep: ['db1'] },
  { category: 'script', line: 'echo $(curl -s -H "X-Api-Key: Zq51sub" http://h/)', secrets: ['Zq51sub'], keep: ['echo'] },
  // flags whose name says secret
  { category: 'flag', line: 'app --db-password Zq52f --verbose', secrets: ['Zq52f'], keep: ['--verbose'] },
  { category: 'flag', line: 'gpg --batch --passphrase Zq53gpg -d f.gpg', secrets: ['Zq53gpg'], keep: ['f.gpg'] },
  { category: 'flag', line: 'keytool -list -keystore ks.jks -storepass Zq54kt', secrets: ['Zq54kt'], keep: ['ks.jks'] },
  { category: 'flag', line: 'vault login -method=userpass username=kim password=Zq55v', secrets: ['Zq55v'], keep: ['username=kim'] },
  { category: 'flag', line: 'cli --api-key=Zq56key --region eu', secrets: ['Zq56key'], keep: ['eu'] },
  { category: 'flag', line: 'tool --client-secret "Zq57 cs" --client-id app', secrets: ['Zq57'], keep: ['app'] },
  // openssl pass: and env:
  { category: 'openssl', line: 'openssl enc -aes-256-cbc -pass pass:Zq58ssl -in a -out b', secrets: ['Zq58ssl'], keep: ['-aes-256-cbc'] },
  { category: 'openssl', line: 'openssl pkcs12 -export -passout pass:Zq59p12 -out c.p12', secrets: ['Zq59p12'], keep: ['c.p12'] },
  { category: 'openssl', line: 'openssl rsa -in k.pem -passin env:Zq60ENV', secrets: ['Zq60ENV'], keep: ['k.pem'] },
  // settings named like secrets, well-known token formats
  { category: 'setting', line: 'aws configure set aws_secret_access_key Zq61aws', secrets: ['Zq61aws'], keep: ['configure'] },
  { category: 'setting', line: 'git config --global user.password Zq62git', secrets: ['Zq62git'], keep: ['--global'] },
  { category: 'setting', line: 'npm config set //registry.example/:_authToken Zq63npm', secrets: ['Zq63npm'], keep: ['config'] },
  { category: 'token', line: 'echo xoxb-Zq64aaaabbbbcccc | slack-post', secrets: ['Zq64aaaabbbbcccc'], keep: ['slack-post'] },
  { category: 'token', line: 'gh auth login --with-token glpat-Zq65aaaabbbbcccc', secrets: ['Zq65aaaabbbbcccc'], keep: ['auth'] },
  { category: 'positional', line: 'htpasswd -b -c /etc/pw lee Zq66ht', secrets: ['Zq66ht'], keep: ['lee', '/etc/pw'] },
  // secrets bash expands into argv: the line holds the variable, argv the value
  { category: 'expanded', line: 'PW=Zq67exp; mysql -p$PW shop', secrets: ['Zq67exp'], keep: ['shop'], typedOnly: true },
  { category: 'expanded', line: 'U=mo:Zq68exp; curl -u "$U" http://h/', secrets: ['Zq68exp'], keep: ['http://h/'], typedOnly: true },
  { category: 'expanded', line: 'T=Zq69exp; curl -H "Authorization: Bearer $T" http://h/', secrets: ['Zq69exp'], keep: ['http://h/'], typedOnly: true },
  { category: 'expanded', line: "Q='password=Zq70exp'; curl -d \"$Q\" http://h/", secrets: ['Zq70exp'], keep: ['http://h/'], typedOnly: true },
  // a password piped to a login that reads it on stdin (echo is a builtin: its words reach no argv; /bin/echo's would, without the line)
  { category: 'positional', line: 'echo Zq71stdin | docker login -u kim --password-stdin reg.example', secrets: ['Zq71stdin'], keep: ['kim', 'reg.example'], typedOnly: true },
  { category: 'glued', line: 'az login -u kim@example.org -p Zq72az --tenant t1', secrets: ['Zq72az'], keep: ['--tenant', 't1'] },
  { category: 'token', line: 'curl -d @msg.json https://hooks.slack.com/services/T0001/B0001/Zq73hook', secrets: ['Zq73hook'], keep: ['@msg.json', 'T0001'] },
  { category: 'setting', line: "jq -n --arg token Zq74jq --arg user kim '{t: $token}'", secrets: ['Zq74jq'], keep: ['kim'] },
  { category: 'positional', line: "echo 'kim:Zq75chpw' | chpasswd", secrets: ['Zq75chpw'], keep: ['chpasswd'], typedOnly: true },
  { category: 'positional', line: 'echo Zq76sudo | sudo -S systemctl restart nginx', secrets: ['Zq76sudo'], keep: ['systemctl', 'nginx'], typedOnly: true },
  { category: 'glued', line: 'ssh-keygen -t ed25519 -N Zq77new -f id_ci', secrets: ['Zq77new'], keep: ['ed25519', 'id_ci'] },
  { category: 'glued', line: 'useradd -m -p Zq78hash kim', secrets: ['Zq78hash'], keep: ['kim'] },
  { category: 'glued', line: 'mosquitto_pub -h mq1 -u kim -P Zq79mq -t a/b -m on', secrets: ['Zq79mq'], keep: ['mq1', 'a/b'] },
  { category: 'positional', line: 'vault kv put secret/app db_url=Zq80vault', secrets: ['Zq80vault'], keep: ['secret/app', 'db_url'] },
  { category: 'positional', line: 'rabbitmqctl add_user kim Zq81rmq', secrets: ['Zq81rmq'], keep: ['add_user', 'kim'] },
  { category: 'positional', line: 'sqlplus -s scott/Zq82ora@//db1:1521/orcl @report.sql', secrets: ['Zq82ora'], keep: ['scott', '@//db1:1521/orcl', '@report.sql'] },
  { category: 'glued', line: 'doctl auth init -t Zq83do', secrets: ['Zq83do'], keep: ['init'] },
  { category: 'positional', line: 'cargo login Zq84crates', secrets: ['Zq84crates'], keep: ['login'] },
  { category: 'setting', line: 'composer config http-basic.repo.example kim Zq85comp', secrets: ['Zq85comp'], keep: ['http-basic.repo.example', 'kim'] },
  { category: 'glued', line: 'dotnet nuget add source https://feed.example/v3/index.json -u kim -p Zq86nuget', secrets: ['Zq86nuget'], keep: ['https://feed.example/v3/index.json', 'kim'] },
  { category: 'flag', line: 'az keyvault secret set --vault-name kv1 --name db --value Zq87az', secrets: ['Zq87az'], keep: ['kv1', 'db'] },
  { category: 'flag', line: "aws secretsmanager create-secret --name db --secret-string 'Zq88sm'", secrets: ['Zq88sm'], keep: ['--name'] },
  { category: 'glued', line: 'consul agent -dev -encrypt=Zq89gossip', secrets: ['Zq89gossip'], keep: ['-dev', '-encrypt='] },
  // SQL that sets a password, given to a client
  { category: 'sql', line: `psql -h db1 -c "ALTER USER app WITH PASSWORD 'Zq90sql'"`, secrets: ['Zq90sql'], keep: ['db1', 'ALTER USER app WITH PASSWORD'] },
  { category: 'sql', line: `mysql -e "CREATE USER 'kim'@'%' IDENTIFIED BY 'Zq91sql'" shop`, secrets: ['Zq91sql'], keep: ['CREATE USER', 'IDENTIFIED BY', 'shop'] },
  // a command run in a container: its own tool's rules
  { category: 'container', line: 'docker exec -it db1 mysql -uroot -pZq92ctr shop', secrets: ['Zq92ctr'], keep: ['db1', '-uroot', 'shop'] },
  { category: 'container', line: 'kubectl exec -it web-0 -c app -- mysql -h db -pZq93kube', secrets: ['Zq93kube'], keep: ['web-0', 'db'] },
  { category: 'glued', line: 'oc login https://api.c1:6443 -u kim -p Zq94oc', secrets: ['Zq94oc'], keep: ['https://api.c1:6443', 'kim'] },
  { category: 'glued', line: 'twine upload -u __token__ -p Zq95pypi dist/pkg.tar.gz', secrets: ['Zq95pypi'], keep: ['__token__', 'dist/pkg.tar.gz'] },
  { category: 'setting', line: 'nmcli dev wifi connect HomeNet password Zq96wifi', secrets: ['Zq96wifi'], keep: ['HomeNet', 'password'] },
  { category: 'flag', line: 'xfreerdp /v:win1 /u:kim /p:Zq97rdp', secrets: ['Zq97rdp'], keep: ['/v:win1', '/u:kim', '/p:'] },
  { category: 'positional', line: 'mc alias set s3 http://minio1:9000 kimkey Zq98mc', secrets: ['Zq98mc'], keep: ['http://minio1:9000', 'kimkey'] },
  { category: 'user', line: 'lftp -u kim,Zq100ftp ftp.example', secrets: ['Zq100ftp'], keep: ['kim', 'ftp.example'] },
  { category: 'token', line: 'curl -s https://api.telegram.org/bot1234:Zq101tg/sendMessage', secrets: ['Zq101tg'], keep: ['api.telegram.org', 'sendMessage'] },
  // a here-string is standard input: a password when the command reads one there (not argv)
  { category: 'positional', line: 'docker login -u kim --password-stdin reg.example <<< Zq102here', secrets: ['Zq102here'], keep: ['kim', 'reg.example'], typedOnly: true },
  { category: 'positional', line: 'wpa_passphrase HomeNet Zq103wpa', secrets: ['Zq103wpa'], keep: ['HomeNet'] },
  { category: 'positional', line: 'db2 connect to shop user kim using Zq104db2', secrets: ['Zq104db2'], keep: ['shop', 'kim', 'using'] },
  { category: 'glued', line: 'rabbitmqadmin -u kim -p Zq105rmq list queues', secrets: ['Zq105rmq'], keep: ['kim', 'queues'] },
  { category: 'glued', line: 'vault token create -id=Zq106vt -ttl=1h', secrets: ['Zq106vt'], keep: ['create', '-ttl=1h'] },
  { category: 'setting', line: 'mysqladmin -u root password Zq107new', secrets: ['Zq107new'], keep: ['root'] },
  { category: 'setting', line: 'rclone config create nas sftp host nas1 user kim pass Zq108rc', secrets: ['Zq108rc'], keep: ['nas1', 'kim'] },
  { category: 'positional', line: "printf 'Zq109sec' | docker secret create db_pw -", secrets: ['Zq109sec'], keep: ['db_pw'], typedOnly: true },
  { category: 'positional', line: 'redis-cli -h cache1 AUTH default Zq110redis', secrets: ['Zq110redis'], keep: ['cache1', 'AUTH', 'default'] },
  { category: 'user', line: 'skopeo copy --src-creds kim:Zq111sko docker://a/b docker://c/d', secrets: ['Zq111sko'], keep: ['kim', 'docker://a/b'] },
  { category: 'user', line: 'curl --user=kim:Zq112curl https://api.example', secrets: ['Zq112curl'], keep: ['kim', 'https://api.example'] },
  { category: 'glued', line: 'cqlsh -u cassandra -p Zq113cql db1', secrets: ['Zq113cql'], keep: ['cassandra', 'db1'] },
  { category: 'glued', line: 'poetry publish -u kim -p Zq114poe --build', secrets: ['Zq114poe'], keep: ['kim', '--build'] },
  // a secret in a process substitution given to a secret flag, and echoed into a program that reads one on stdin
  { category: 'flag', line: "openvpn --config c.ovpn --auth-user-pass <(printf 'kim\nZq115vpn')", secrets: ['Zq115vpn'], keep: ['c.ovpn'], typedOnly: true },
  { category: 'positional', line: 'echo Zq116wg | wg pubkey > pub.key', secrets: ['Zq116wg'], keep: ['pubkey', 'pub.key'], typedOnly: true },
  { category: 'positional', line: 'echo Zq117krb | kinit kim@EXAMPLE.ORG', secrets: ['Zq117krb'], keep: ['kim@EXAMPLE.ORG'], typedOnly: true },
  // option values that are shell commands, netrc lines, --value of secret stores, a secret file made by a process substitution
  { category: 'script', line: "ssh -o 'ProxyCommand=sshpass -p Zq118px ssh -W %h:%p jump1' web1 uptime", secrets: ['Zq118px'], keep: ['jump1', 'web1', 'uptime'] },
  { category: 'script', line: "rsync -a -e 'sshpass -p Zq119rs ssh' src/ web1:/srv/", secrets: ['Zq119rs'], keep: ['src/', 'web1:/srv/'] },
  { category: 'token', line: "echo 'machine h1 login kim password Zq120netrc' >> .netrc", secrets: ['Zq120netrc'], keep: ['h1', 'kim', '.netrc'], typedOnly: true },
  { category: 'flag', line: 'aws ssm put-parameter --name /app/db --value Zq121ssm --type SecureString', secrets: ['Zq121ssm'], keep: ['/app/db', 'SecureString'] },
  { category: 'flag', line: 'glab variable set DEPLOY_KEY --value Zq122glab', secrets: ['Zq122glab'], keep: ['DEPLOY_KEY'] },
  { category: 'positional', line: 'docker secret create db_pw <(printf Zq123ds)', secrets: ['Zq123ds'], keep: ['db_pw'] },
  { category: 'positional', line: 'read -rs PW <<< Zq124read', secrets: ['Zq124read'], keep: ['PW'], typedOnly: true },  // a fourth batch of everyday lines (2026-12-07): more tools' password flags and positionals, API keys as curl's user, kv stores, SQL SET PASSWORD FOR
  { category: 'user', line: 'curl https://api.stripe.com/v1/charges -u sk_test_Zq217stripeAAAAAAAAAAAA:', secrets: ['Zq217stripeAAAAAAAAAAAA'], keep: ['https://api.stripe.com/v1/charges'] },
  { category: 'token', line: 'tool hf_Zq222AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', secrets: ['Zq222AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'], keep: ['tool'] },
  { category: 'positional', line: 'consul kv put app/db/password Zq239consul', secrets: ['Zq239consul'], keep: ['app/db/password'] },
  { category: 'positional', line: 'etcdctl put /app/password Zq241etcd', secrets: ['Zq241etcd'], keep: ['/app/password'] },
  { category: 'sql', line: "mysql -uroot -pZq242a -e \"SET PASSWORD FOR 'kim'@'%' = 'Zq243set'\"", secrets: ['Zq242a', 'Zq243set'], keep: ['kim'] },
  { category: 'positional', line: 'smbclient //fs/share Zq246smb -U kim', secrets: ['Zq246smb'], keep: ['//fs/share', 'kim'] },
  { category: 'glued', line: 'ipmitool -I lanplus -H bmc1 -U admin -P Zq248ipmi power status', secrets: ['Zq248ipmi'], keep: ['bmc1', 'admin', 'status'] },
  { category: 'user', line: 'mysqlsh --uri root:Zq249sh@db1:3306', secrets: ['Zq249sh'], keep: ['db1:3306'] },
  { category: 'positional', line: 'rman target sys/Zq252ora@db1', secrets: ['Zq252ora'], keep: ['target'] },
  { category: 'glued', line: 'isql -U sa -P Zq254syb -S srv', secrets: ['Zq254syb'], keep: ['srv'] },
  { category: 'positional', line: 'neo4j-admin dbms set-initial-password Zq255neo', secrets: ['Zq255neo'], keep: ['neo4j-admin'] },
  { category: 'glued', line: 'cypher-shell -u neo4j -p Zq256neo "MATCH (n) RETURN n"', secrets: ['Zq256neo'], keep: ['neo4j'] },
  { category: 'script', line: "lftp -e 'open -u kim,Zq257lftp ftp.example; ls; bye'", secrets: ['Zq257lftp'], keep: ['kim', 'ftp.example'] },
  { category: 'glued', line: 'yt-dlp -u kim -p Zq258yt https://v.example/x', secrets: ['Zq258yt'], keep: ['kim', 'https://v.example/x'] },
  { category: 'user', line: 'transmission-remote -n kim:Zq259tr -l', secrets: ['Zq259tr'], keep: ['kim'] },
  { category: 'glued', line: 'snmpwalk -v2c -c Zq260snmp 10.0.0.1', secrets: ['Zq260snmp'], keep: ['10.0.0.1'] },
  { category: 'glued', line: 'snmpwalk -v3 -u kim -l authPriv -a SHA -A Zq261auth -x AES -X Zq262priv h1', secrets: ['Zq261auth', 'Zq262priv'], keep: ['kim', 'h1'] },
  { category: 'glued', line: 'hydra -l admin -p Zq263hyd ssh://h1', secrets: ['Zq263hyd'], keep: ['admin', 'ssh://h1'] },
  { category: 'positional', line: 'bw unlock Zq264bw', secrets: ['Zq264bw'], keep: ['unlock'] },
  { category: 'positional', line: 'openssl passwd -6 Zq265passwd', secrets: ['Zq265passwd'], keep: ['passwd'] },
  { category: 'positional', line: 'openssl passwd -1 -salt xyz Zq266passwd', secrets: ['Zq266passwd'], keep: ['xyz'] },
  { category: 'positional', line: 'mkpasswd -m sha-512 Zq267mk', secrets: ['Zq267mk'], keep: ['sha-512'] },
  { category: 'glued', line: 'kadmin -p admin/admin -w Zq272krb -q listprincs', secrets: ['Zq272krb'], keep: ['listprincs'] },
  { category: 'positional', line: 'vault operator unseal Zq273unseal', secrets: ['Zq273unseal'], keep: ['unseal'] },
  { category: 'setting', line: 'pulumi config set --secret dbPassword Zq276pul', secrets: ['Zq276pul'], keep: ['dbPassword'] },
  { category: 'setting', line: 'pulumi config set dbPassword Zq277pul --secret', secrets: ['Zq277pul'], keep: ['dbPassword'] },
  { category: 'positional', line: 'echo -e "Zq289pw\\nZq289pw" | passwd kim', secrets: ['Zq289pw'], keep: ['kim'], typedOnly: true },
  { category: 'glued', line: 'plink -ssh kim@h1 -pw Zq385pl', secrets: ['Zq385pl'], keep: ['kim@h1'] },
  { category: 'glued', line: 'pscp -pw Zq386pl f kim@h1:/tmp', secrets: ['Zq386pl'], keep: ['kim@h1:/tmp'] },
  { category: 'positional', line: 'vncpasswd -f <<< Zq390vnc > p', secrets: ['Zq390vnc'], keep: ['vncpasswd'], typedOnly: true },
  { category: 'positional', line: 'grafana-cli admin reset-admin-password Zq398gf', secrets: ['Zq398gf'], keep: ['reset-admin-password'] },
  { category: 'header', line: 'curl -H "Authorization: Splunk Zq336spl" https://hec:8088/services/collector', secrets: ['Zq336spl'], keep: ['Splunk', 'https://hec:8088/services/collector'] },
];

/** A password pasted at the prompt: no program runs (bash: command not found). */
export const PASTED_SECRET = 'Zq99pasted';
