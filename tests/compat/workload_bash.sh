#!/usr/bin/env bash
# workload_bash.sh - the bash workload of the compatibility suite (run_compat.sh): loops,
# indexed and associative arrays, string operations, arithmetic, functions, recursion,
# subshells, command substitution, here-strings and pipes. Prints the same thing every run.
# About 300 subshells are forked: under the agent each writes its own profile at exit.
# Ends with status 3, so the suite sees a non-zero status come through unchanged.
set -u
declare -A counts=()
declare -a list=()
fib() {
  local n=$1
  if ((n < 2)); then echo "$n"; else echo $(($(fib $((n - 1))) + $(fib $((n - 2))))); fi
}
word() { printf 'w%x' $((($1 * 2654435761) % 1000003)); }
for ((i = 0; i < 20000; i++)); do
  w=$(( (i * 2654435761) % 1000003 ))
  key=k$((w % 100))
  counts[$key]=$(( ${counts[$key]:-0} + 1 ))
  list+=("$w")
done
echo "keys ${#counts[@]} items ${#list[@]}"
total=0
for k in "${!counts[@]}"; do total=$((total + counts[$k])); done
echo "total $total"
sorted=$(printf '%s\n' "${list[@]:0:3000}" | sort -n | head -3 | tr '\n' ' ')
echo "smallest $sorted"
s=""
for ((i = 0; i < 3000; i++)); do
  printf -v hex '%x' $(((i * 2654435761) % 1000003))
  s+="w$hex,"
done
s2=""
for ((i = 0; i < 100; i++)); do s2+="$(word $i)"; done
echo "forked words ${#s2} ${s2:0:16}"
echo "string ${#s} ${s:0:30} ${s^^}" | cut -c1-80
text=${s//w/W}
echo "replaced ${text:0:20} $(grep -o W <<<"$text" | wc -l)"
echo "fib $(fib 10)"
mapfile -t lines < <(for ((i = 0; i < 2000; i++)); do echo "line $i $((i % 13))"; done)
echo "lines ${#lines[@]} last '${lines[-1]}'"
( for ((i = 0; i < 500; i++)); do arr[i]=$((i * i)); done; echo "subshell ${#arr[@]} ${arr[499]}" )
IFS=, read -r -a parts <<<"$s"
echo "parts ${#parts[@]} ${parts[1234]}"
exit 3
