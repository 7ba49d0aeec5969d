# Shell helpers shared by the bench scripts (sourced, not run).

# True when something listens on <addr>:5222.
listening() { ss -Hltn "src $1:5222" 2>/dev/null | grep -q .; }

wait_listening() { # addr timeout-s
  local i
  for ((i = 0; i < $2 * 10; i++)); do listening "$1" && return 0; sleep 0.1; done
  return 1
}

wait_gone() { # pid timeout-s
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
