# `nix flake check`: lints, formatting, the test suite on both backends, the
# NATS config, and the packages themselves. Every Rust check starts from the
# shared `cargoArtifacts`, so dependencies compile once.
{
  pkgs,
  rust,
  packages,
}:
let
  inherit (rust) craneLib commonArgs cargoArtifacts;

  testArgs = commonArgs // {
    inherit cargoArtifacts;
    # Nothing chains after the tests; keep target/ out of the store.
    doInstallCargoArtifacts = false;
    # The suites bind 127.0.0.1 (the app on port 0, Postgres, NATS); the
    # macOS sandbox forbids that unless asked.
    __darwinAllowLocalNetworking = true;
  };

  # nextest closes with an error when a filter selects no test; while the
  # workspace is young some runs legitimately have none.
  nextestArgs = "--workspace --no-tests=warn";

  natsConfig = ./nats/server.conf;
in
{
  clippy = craneLib.cargoClippy (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoClippyExtraArgs = "--workspace --all-targets -- --deny warnings";
    }
  );

  fmt = craneLib.cargoFmt {
    inherit (commonArgs) src pname version;
  };

  # Embedded backend: SQLite files and the in-process bus. Tests that need
  # PostgreSQL or NATS are `#[ignore = "needs ..."]` and skipped here.
  tests = craneLib.cargoNextest (testArgs // { cargoNextestExtraArgs = nextestArgs; });

  # Distributed backend: PostgreSQL and NATS (JetStream) started inside this
  # derivation's build sandbox as the build user, then the whole suite
  # including the ignored tests (nextest's `--run-ignored all` is
  # `cargo test -- --include-ignored`). See test-services.sh.
  tests-distributed = craneLib.cargoNextest (
    testArgs
    // {
      pname = "platform-workspace-distributed";
      cargoNextestExtraArgs = "${nextestArgs} --run-ignored all";
      nativeBuildInputs = [
        pkgs.postgresql
        pkgs.nats-server
      ];
      NATS_SERVER_CONFIG = natsConfig;
      # Away from the usual ports in case the sandbox shares the host's
      # network (macOS; the websocket listener keeps the config's 8222). On
      # Linux the sandbox has its own network namespace.
      TEST_PG_PORT = "55432";
      TEST_NATS_PORT = "54222";
      preCheck = ''
        # A writable home for the tools the suite starts (Chromium's among them).
        export HOME="$TMPDIR/home"
        mkdir -p "$HOME"
        source ${./test-services.sh}
        # stdenv runs failureHooks when a phase fails; the sandbox would
        # kill the daemons anyway, this stops them cleanly and first.
        failureHooks+=(stopTestServices)
        startTestServices
      '';
      postCheck = ''
        stopTestServices
      '';
    }
    // (
      if pkgs.stdenv.isLinux then
        {
          # The docs-UI test (`#[ignore = "needs chromium ..."]`) drives headless
          # Chromium named by TEST_CHROMIUM.
          TEST_CHROMIUM = "${pkgs.chromium}/bin/chromium";
        }
      else
        {
          # nixpkgs builds no Chromium for macOS: leave browser-driven tests
          # (named `..._in_a_browser_...`) out there rather than fail them.
          cargoNextestExtraArgs = "${nextestArgs} --run-ignored all -E 'not test(/in_a_browser/)'";
        }
    )
  );

  # The NATS config parses and passes nats-server's own validation.
  nats-config = pkgs.runCommand "nats-config-check" { nativeBuildInputs = [ pkgs.nats-server ]; } ''
    nats-server -c ${natsConfig} -t
    touch $out
  '';

  # Building the packages is a check too (as in crane's examples): the
  # platform binary, and each service crate compiled on its own.
  inherit (packages) platform;
}
// packages.byService
