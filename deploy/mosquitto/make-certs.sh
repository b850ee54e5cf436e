#!/usr/bin/env bash
# Make a small private PKI for menwei's MQTT broker: a CA, the broker's server certificate, one
# client certificate per compound and one for menwei-central.
#
#   make-certs.sh [-s SAN]... [-d DAYS] OUTDIR [COMPOUND_ID]...
#
#   -s SAN   an extra subjectAltName for the broker, e.g. -s DNS:mqtt.district.example
#            -s IP:10.20.0.5 (repeatable). DNS:localhost and IP:127.0.0.1 are always included.
#   -d DAYS  validity of the leaf certificates (default 825); the CA gets 3650.
#
# Files written to OUTDIR (keys are PKCS#8 PEM, mode 0600; certificates 0644):
#   ca.crt ca.key                 the CA; keep ca.key offline once the fleet is issued
#   broker.crt broker.key         for mosquitto (certfile/keyfile); CN=broker
#   <id>.crt <id>.key             one per compound: CN=<id>, which the broker takes as the MQTT
#                                 username (use_identity_as_username) and the ACL as %u
#   menwei-central.crt/.key       CN=menwei-central, the ACL's `user menwei-central`
#
# Re-running is safe: an existing CA and existing certificates are kept, so the script can issue
# certificates for new compounds later with the same CA. Delete a file to re-issue it.
# For tests and installers; a district that runs its own PKI issues the same shapes there:
# ECDSA P-256, v3, client certificates with extendedKeyUsage=clientAuth and the compound id as CN.
set -euo pipefail

usage() {
    sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

extra_sans=()
days=825
while getopts 's:d:h' opt; do
    case "$opt" in
        s) extra_sans+=("$OPTARG") ;;
        d) days="$OPTARG" ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
out="$1"
shift

[[ "$days" =~ ^[0-9]+$ ]] || { echo "make-certs: -d wants a number of days, got '$days'" >&2; exit 2; }
for san in "${extra_sans[@]+"${extra_sans[@]}"}"; do
    [[ "$san" =~ ^(DNS|IP):[A-Za-z0-9.:*-]+$ ]] ||
        { echo "make-certs: -s wants DNS:name or IP:address, got '$san'" >&2; exit 2; }
done

# A compound id becomes an MQTT username and a topic level (menwei/v1/<id>/...), so it must not
# contain '/', '+', '#' or anything else with a meaning in topics, and must not be the central's
# name. Keep this in step with the id rule of the edge's config validation.
for id in "$@"; do
    if [[ ! "$id" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ ]]; then
        echo "make-certs: compound id '$id' must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}" >&2
        exit 2
    fi
    if [[ "$id" == "menwei-central" || "$id" == "broker" || "$id" == "ca" ]]; then
        echo "make-certs: '$id' is reserved and cannot be a compound id" >&2
        exit 2
    fi
done

command -v openssl >/dev/null || { echo "make-certs: openssl not found" >&2; exit 1; }

mkdir -p "$out"
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

new_key() { # PATH
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 0600 "$1"
}

if [[ ! -s "$out/ca.key" || ! -s "$out/ca.crt" ]]; then
    new_key "$out/ca.key"
    openssl req -x509 -new -sha256 -days 3650 -key "$out/ca.key" -out "$out/ca.crt" \
        -subj "/O=menwei/CN=menwei MQTT CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
    chmod 0644 "$out/ca.crt"
    echo "make-certs: new CA $out/ca.crt"
else
    echo "make-certs: keeping the CA in $out"
fi

issue() { # NAME CN EXTENSIONS...
    local name="$1" cn="$2"
    shift 2
    if [[ -s "$out/$name.key" && -s "$out/$name.crt" ]]; then
        echo "make-certs: keeping $out/$name.crt"
        return
    fi
    new_key "$out/$name.key"
    printf '%s\n' "$@" >"$work/$name.ext"
    openssl req -new -sha256 -key "$out/$name.key" -subj "/O=menwei/CN=$cn" -out "$work/$name.csr"
    # A random 128-bit serial: no ca.srl to keep in step between runs.
    openssl x509 -req -sha256 -days "$days" -in "$work/$name.csr" \
        -CA "$out/ca.crt" -CAkey "$out/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
        -extfile "$work/$name.ext" -out "$out/$name.crt" 2>/dev/null
    chmod 0644 "$out/$name.crt"
    echo "make-certs: issued $out/$name.crt (CN=$cn)"
}

common=(
    "basicConstraints=critical,CA:FALSE"
    "keyUsage=critical,digitalSignature"
    "subjectKeyIdentifier=hash"
    "authorityKeyIdentifier=keyid"
)

sans="DNS:localhost,IP:127.0.0.1"
for san in "${extra_sans[@]+"${extra_sans[@]}"}"; do
    sans="$sans,$san"
done
issue broker broker "${common[@]}" "extendedKeyUsage=serverAuth" "subjectAltName=$sans"
issue menwei-central menwei-central "${common[@]}" "extendedKeyUsage=clientAuth"
for id in "$@"; do
    issue "$id" "$id" "${common[@]}" "extendedKeyUsage=clientAuth"
done

for f in "$out"/*.crt; do
    [[ "$f" == "$out/ca.crt" ]] && continue
    openssl verify -CAfile "$out/ca.crt" "$f" >/dev/null
done
echo "make-certs: all certificates in $out verify against ca.crt"
