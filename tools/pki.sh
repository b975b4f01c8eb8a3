#!/usr/bin/env bash
# Certificates for a perfgate lab, made with openssl (docs/security.md).
#
#   tools/pki.sh init DIR [HOST...]     a CA (DIR/ca.pem, DIR/ca.key) and the controller's
#                                       certificate for HOST... (default: localhost 127.0.0.1 ::1)
#                                       as DIR/controller.pem, DIR/controller.key
#   tools/pki.sh issue-agent DIR NAME   an agent's client certificate: DIR/agents/NAME.pem and
#                                       .key; its CN is NAME, the name the controller knows it by
#   tools/pki.sh issue-server DIR HOST...  a new controller certificate (rotation)
#
# Keys are ECDSA P-256, written with mode 0600. Certificates last --days (default 825).
# A CA rotation: make a second CA with `init` in another DIR, give the controller both CA
# files concatenated as --tls-client-ca, re-issue the agents from the new CA, then drop the old.
set -euo pipefail

days=825
if [ "${1:-}" = --days ]; then days=$2; shift 2; fi
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

newkey() { (umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$1.tmp" \
  && openssl pkcs8 -topk8 -nocrypt -in "$1.tmp" -out "$1" && rm -f "$1.tmp"); }

# sign NAME_BASE CN EXT: a certificate from the lab's CA.
sign() {
  local base=$1 cn=$2 ext=$3
  newkey "$base.key"
  openssl req -new -key "$base.key" -subj "/CN=$cn/O=perfgate" -out "$base.csr" 2>/dev/null
  openssl x509 -req -in "$base.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile <(printf '%s\n' "$ext") -out "$base.pem" 2>/dev/null
  rm -f "$base.csr"
}

server() {
  local sans=() h
  [ $# -gt 0 ] || set -- localhost 127.0.0.1 ::1
  for h in "$@"; do
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then sans+=("IP:$h"); else sans+=("DNS:$h"); fi
  done
  local IFS=,
  sign "$dir/controller" "$1" "subjectAltName=${sans[*]}
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
  echo "controller certificate: $dir/controller.pem (${sans[*]})"
}

case $cmd in
  init)
    [ ! -e "$dir/ca.key" ] || { echo "pki: $dir/ca.key exists; not overwriting a CA" >&2; exit 1; }
    mkdir -p "$dir/agents"
    newkey "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=perfgate lab CA/O=perfgate" \
      -days "$days" -sha256 -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem" 2>/dev/null
    echo "CA: $dir/ca.pem"
    server "$@"
    ;;
  issue-agent)
    [ $# -eq 1 ] || usage
    [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$ ]] || { echo "pki: bad agent name '$1'" >&2; exit 2; }
    [ -e "$dir/ca.key" ] || { echo "pki: no CA in $dir (run init first)" >&2; exit 1; }
    mkdir -p "$dir/agents"
    sign "$dir/agents/$1" "$1" "subjectAltName=DNS:$1
extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
    echo "agent certificate: $dir/agents/$1.pem (CN=$1)"
    ;;
  issue-server)
    [ -e "$dir/ca.key" ] || { echo "pki: no CA in $dir (run init first)" >&2; exit 1; }
    server "$@"
    ;;
  *) usage ;;
esac
