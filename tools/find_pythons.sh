#!/usr/bin/env bash
# The Python interpreters dltut supports (3.11, 3.12, 3.13) that exist on this machine.
#
#   find_pythons.sh default        the one `make` builds .venv with: the active python3 when
#                                  it is supported, else the newest supported one found
#   find_pythons.sh all            "X.Y path" for each supported version found, newest first
#   find_pythons.sh others PYTHON  like all, without PYTHON's version
#
# Each candidate is run, not just looked up: pyenv's shims exist for every installed
# version but answer "command not found" for those that are not active, so the versions
# under `pyenv root` are searched too.
set -u
SUPPORTED="3.13 3.12 3.11"

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

supported() { case " $SUPPORTED " in *" $1 "*) return 0 ;; esac; return 1; }

candidates() {   # $1 = X.Y
    command -v "python$1" 2>/dev/null
    local root
    if root=$(pyenv root 2>/dev/null) && [ -d "$root/versions" ]; then
        ls -d "$root"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -V -r
    fi
}

find_version() {   # $1 = X.Y -> first working interpreter of that version
    local path
    while IFS= read -r path; do
        [ -n "$path" ] || continue
        if [ "$(version_of "$path")" = "$1" ]; then echo "$path"; return 0; fi
    done < <(candidates "$1")
    return 1
}

all() {
    local v path
    for v in $SUPPORTED; do
        if path=$(find_version "$v"); then echo "$v $path"; fi
    done
}

case "${1:-default}" in
    default)
        if p=$(command -v python3 2>/dev/null) && supported "$(version_of "$p")"; then
            echo "$p"
        else
            all | head -n 1 | cut -d' ' -f2-
        fi ;;
    all) all ;;
    others)
        skip=$(version_of "${2:-python3}")
        all | while read -r v path; do [ "$v" = "$skip" ] || echo "$v $path"; done ;;
    *) echo "usage: $0 [default | all | others PYTHON]" >&2; exit 2 ;;
esac
