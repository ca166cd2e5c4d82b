# Runs on a POSIX server host, over SSH (harness/run/remote_placement.py):
#   sh -c "$(cat place_on_host.sh)" sh TOKEN UNDER_WINE WINE_CPUS
# Finds the server the harness started there: the launcher exported
# WSB_SERVER=TOKEN:<its own pid>, so the server is the one process whose
# value names itself (what it starts inherits the value, not the pid). With
# UNDER_WINE=1, also the Wine processes of the server's prefix: its
# wineserver (working in the folder Wine names after the prefix's device
# and inode) and Wine's programs (Wine's loader with the server's
# WINEPREFIX). Moves every thread of those, the server aside, to WINE_CPUS
# unless it is empty. Prints what the server and the wineserver may run on,
# as the kernel says, one process a line: "ROLE PID LIST...", a CPU list
# (0-1,3) for each distinct list among its threads. POSIX sh, GNU grep and
# find, util-linux's taskset: what a Linux host has.
token=$1 under_wine=$2 wine_cpus=$3

allowed_lists() {
    sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/"$1"/task/*/status 2>/dev/null | sort -u | tr '\n' ' '
}

find_server() {
    for environ in $(grep -lzx "WSB_SERVER=$token:[0-9]*" /proc/[0-9]*/environ 2>/dev/null); do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        if grep -qzx "WSB_SERVER=$token:$pid" "$environ" 2>/dev/null; then
            echo "$pid"
            return
        fi
    done
}

prefix_setting() {
    grep -zs '^WINEPREFIX=' /proc/"$1"/environ | tr -d '\0'
}

wineserver_folder() {
    folder=${1#WINEPREFIX=}
    [ -n "$folder" ] || folder=$HOME/.wine
    # shellcheck disable=SC2046
    set -- $(stat -L -c '%d %i' "$folder" 2>/dev/null)
    [ $# -eq 2 ] && printf 'server-%x-%x\n' "$1" "$2"
}

# "wineserver PID" and "wine PID" lines for the Wine processes of the prefix.
wine_processes() {
    prefix=$(prefix_setting "$server")
    folder=$(wineserver_folder "$prefix")
    find /proc/[0-9]*/exe -maxdepth 0 -printf '%p %l\n' 2>/dev/null | while read -r exe target; do
        pid=${exe#/proc/}
        pid=${pid%/exe}
        [ "$pid" = "$server" ] && continue
        case ${target##*/} in
            wineserver | wineserver64)
                cwd=$(readlink /proc/"$pid"/cwd)
                [ -n "$folder" ] && [ "${cwd##*/}" = "$folder" ] && echo "wineserver $pid" ;;
            wine | wine64 | wine-preloader | wine64-preloader)
                [ "$(prefix_setting "$pid")" = "$prefix" ] && echo "wine $pid" ;;
        esac
    done
}

server=$(find_server)
[ -n "$server" ] || exit 0
echo "server $server $(allowed_lists "$server")"
[ "$under_wine" = 1 ] || exit 0
wine_processes | while read -r role pid; do
    [ -n "$wine_cpus" ] && taskset -a -p -c "$wine_cpus" "$pid" >/dev/null 2>&1
    [ "$role" = wineserver ] && echo "wineserver $pid $(allowed_lists "$pid")"
done
exit 0
