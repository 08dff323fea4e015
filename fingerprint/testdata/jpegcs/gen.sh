#!/bin/sh
# gen.sh remakes the JPEG fixtures of this folder from the shared media's
# video-001.png (Go's image/testdata, BSD-3-Clause, Copyright The Go
# Authors): needs cc, libjpeg-turbo's headers (libjpeg62-turbo-dev) and ffmpeg.
set -eu
cd "$(dirname "$0")"
src=../../../../shared/media/images/go-stdlib-video001/video-001.png
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/gen" gen.c -ljpeg
ffmpeg -nostdin -hide_banner -loglevel error -i "$src" -f rawvideo -pix_fmt rgb24 "$tmp/px"
for k in rgb-g22 rgb-r31 rgb-arith rgb-r22 rgb-g22-prog-rst ycc420-prog-rst cmyk-noadobe cmyk-2112 ycck-2111 ycck-2112; do
	"$tmp/gen" 150 103 "$k" "video-001.$k.jpeg" < "$tmp/px"
done
