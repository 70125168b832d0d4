#!/bin/sh
# Initialises the data directory on first start (root password from a mounted secret file, root over TCP),
# then runs the server as the mysql user. The password never passes through the environment or arguments.
set -eu
datadir=/var/lib/mysql
secret=/run/secrets/mysql-root-password
init_socket=/run/mysqld/init.sock

if [ ! -d "$datadir/mysql" ]; then
  if [ ! -s "$secret" ]; then
    echo "cdc-lab: $secret is missing or empty: mount the root password file there" >&2
    exit 1
  fi
  echo "cdc-lab: initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=normal \
    --skip-test-db > /dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --skip-log-bin --socket="$init_socket" &
  pid=$!
  tries=0
  until mariadb-admin --socket="$init_socket" ping --silent > /dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 120 ]; then echo "cdc-lab: the initialising server did not start in 60 s" >&2; exit 1; fi
    sleep 0.5
  done
  password=$(cat "$secret")
  mariadb --socket="$init_socket" -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '$password';
CREATE USER 'root'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  MYSQL_PWD="$password" mariadb-admin --socket="$init_socket" -uroot shutdown
  wait "$pid" || true
  unset password
  echo "cdc-lab: initialised"
fi

exec mariadbd --user=mysql --datadir="$datadir"
