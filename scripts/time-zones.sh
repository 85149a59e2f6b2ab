#!/bin/sh
# The tz database's time zone names (zones and their links, less the placeholder "Factory"),
# one a line, sorted: the names a date's time_zone may take (crates/notion/src/time_zone.rs).
#
#     sh scripts/time-zones.sh /usr/share/zoneinfo/tzdata.zi > crates/notion/src/time-zones.txt
#
# tzdata.zi is the compact form of a tz database release (Debian's tzdata package installs it;
# a release's tarball builds it with `make tzdata.zi`).
set -eu
zi=${1:-/usr/share/zoneinfo/tzdata.zi}
{
    sed -n '1s/^# version /# tzdata /p' "$zi"
    awk '$1 == "Z" { print $2 } $1 == "L" { print $3 }' "$zi" | grep -vx Factory | LC_ALL=C sort -u
}
