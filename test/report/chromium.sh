#!/bin/bash
# Renders the report of test/report/sample_multinode.json in headless
# Chromium and checks the screenshot is not blank (more than a few distinct
# colours: the charts are there). Skips cleanly when chromium is absent.
#   BUILD (default build), CVMM (default $BUILD/cvmm)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
CVMM=${CVMM:-$root/$BUILD/cvmm}
pass=0 fail=0

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	echo "SKIP chromium: not installed (apt-get install chromium)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
html=$work/report.html png=$work/out.png

if ! "$CVMM" report "$here/sample_multinode.json" -o "$html" >"$work/log" 2>&1; then
	echo "FAIL report: cvmm report failed:"; cat "$work/log"
	echo "0 passed, 1 failed"
	exit 1
fi

timeout 120 "$browser" --headless --no-sandbox --disable-gpu \
	--disable-background-networking --disable-component-update \
	--disable-sync --no-first-run --user-data-dir="$work/profile" \
	--screenshot="$png" --window-size=1200,2000 "file://$html" \
	>"$work/chromium.log" 2>&1

# Decodes the PNG with zlib (8-bit RGB or RGBA, non-interlaced, as
# Chromium writes it) and counts distinct colours.
colours=$(python3 - "$png" <<'PY'
import struct, sys, zlib
try:
    data = open(sys.argv[1], "rb").read()
except OSError:
    print(0); sys.exit()
pos, idat, hdr = 8, b"", None
while pos + 8 <= len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
if not hdr or hdr[2] != 8 or hdr[3] not in (2, 6) or hdr[6]:
    print(0); sys.exit()
w, h, bpp = hdr[0], hdr[1], 3 if hdr[3] == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, seen, o = bytearray(stride), set(), 0
for y in range(h):
    f, line = raw[o], bytearray(raw[o + 1:o + 1 + stride]); o += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for i in range(0, stride, bpp * 2):
            seen.add(bytes(line[i:i + 3]))
    prev = line
print(len(seen))
PY
)
if [ -s "$png" ] && [ "${colours:-0}" -gt 8 ]; then
	echo "PASS chromium: report rendered ($colours distinct colours)"
	pass=$((pass + 1))
else
	echo "FAIL chromium: blank or missing screenshot (${colours:-0} colours)"
	tail -5 "$work/chromium.log"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
