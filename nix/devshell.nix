# `nix develop`: the toolchain the checks use, plus the services and tools
# for running distributed (Postgres + NATS) and for browser tests.
{
  pkgs,
  rust,
  checks,
}:
let
  inherit (pkgs) lib;
in
rust.craneLib.devShell (
  {
    # Brings every check's build inputs (postgresql and nats-server from
    # tests-distributed among them), so the shell can do what the checks do.
    inherit checks;

    packages = [
      # cargo, rustc, clippy, rustfmt, rust-src and rust-analyzer, one version.
      rust.toolchain
      pkgs.cargo-nextest
      pkgs.sea-orm-cli
      pkgs.nats-server
      pkgs.natscli
      pkgs.postgresql
    ]
    # Headless browser for the browser-driven tests; nixpkgs builds Chromium
    # for Linux only.
    ++ lib.optionals pkgs.stdenv.isLinux [ pkgs.chromium ];

    # Where nix/test-services.sh and `nats-server -c "$NATS_SERVER_CONFIG"`
    # find the dev config (a path relative to the repository root).
    NATS_SERVER_CONFIG = "nix/nats/server.conf";
  }
  // lib.optionalAttrs pkgs.stdenv.isLinux {
    # The browser the docs-UI test runs under `--include-ignored`.
    TEST_CHROMIUM = "${pkgs.chromium}/bin/chromium";
  }
)
