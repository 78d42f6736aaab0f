# The platform binary and one package per service crate.
{ pkgs, rust }:
let
  inherit (rust) craneLib commonArgs cargoArtifacts;

  # Service crates under services/, except the platform binary that mounts
  # them. Adding a service is one line here (.ci/nix-check.sh fails if a
  # services/<name>/Cargo.toml has no line).
  services = [
    "accounts"
    "wallet"
    "rewards"
    # "payments"
    "live"
    # "commentary"
    # "cms"
    # "quizzes"
  ];

  # The binary that runs every service in one process (`serve`, `migrate`,
  # `openapi`, `users`). Tests are left to the `tests` checks, which run the
  # whole workspace once instead of once per package.
  platform = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      pname = "platform";
      cargoExtraArgs = "--locked -p platform";
      doCheck = false;
      meta = {
        description = "Runs every platform service in one process";
        mainProgram = "platform";
      };
    }
  );

  # A service crate is a library the platform links, so there is no binary
  # to install. What its package proves and gives instead:
  #   - it compiles on its own (`cargo build -p <name>`). Inside the
  #     workspace, cargo unifies features across members, so a service can
  #     compile only because a sibling happened to enable a feature it uses;
  #     building it alone catches that before the crate is split out or
  #     mounted in a smaller binary;
  #   - its API documentation: `nix build .#<name>` gives
  #     result/share/doc/<name>/index.html, what the platform mounts
  #     (routes, supervisor, migrations, OpenAPI part).
  # Its tests run in the workspace `tests` checks.
  mkService =
    name:
    craneLib.mkCargoDerivation (
      commonArgs
      // {
        inherit cargoArtifacts;
        pname = name;
        doInstallCargoArtifacts = false;
        buildPhaseCargoCommand = ''
          cargo build --profile release --locked -p ${name}
          cargo doc --profile release --locked --no-deps -p ${name}
        '';
        installPhaseCommand = ''
          mkdir -p $out/share/doc
          cp -r "''${CARGO_TARGET_DIR:-target}/doc/." $out/share/doc/
        '';
        meta.description = "The ${name} service crate, built alone, with its API docs";
      }
    );
in
{
  inherit platform services;
  byService = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = mkService name;
    }) services
  );
}
