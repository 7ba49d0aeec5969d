-- Prosody 0.12 for bench/compare.sh: plain c2s on one loopback address, plaintext-stored
-- passwords (internal_plain), PLAIN allowed without TLS. @DIR@, @ADDR@, @DOMAIN@ and
-- @LIMITS@ are filled in by compare.sh, which runs `prosody -F --config <this file>`.
run_as_root = true            -- compare.sh runs as root; data lives under .bench/
daemonize = false
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
log = { warn = "@DIR@/prosody.log" }
network_backend = "epoll"     -- the 0.12 default, stated

interfaces = { "@ADDR@" }
local_interfaces = { "@ADDR@" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }

-- What the comparison needs and Hearth also does: auth, bind, roster/presence, disco, ping.
-- "limits" (the Debian default config's c2s rate = "10kb/s") is added only when
-- compare.sh is run with PROSODY_LIMITS=1.
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; @LIMITS@ }
modules_disabled = { "s2s"; "s2s_auth_certs"; "offline" }
limits = { c2s = { rate = "10kb/s" } }

authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = false
statistics = nil

VirtualHost "@DOMAIN@"
