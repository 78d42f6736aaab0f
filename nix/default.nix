# Everything the flake outputs for one system, assembled from the pieces in
# this directory. flake.nix calls it once per supported system.
{
  nixpkgs,
  crane,
  rust-overlay,
  system,
  # The repository root (the flake's own source).
  root,
}:
let
  pkgs = import nixpkgs {
    inherit system;
    overlays = [ rust-overlay.overlays.default ];
  };
  inherit (pkgs) lib;

  rust = import ./rust.nix { inherit pkgs crane root; };
  built = import ./packages.nix { inherit pkgs rust; };
  checks = import ./checks.nix {
    inherit pkgs rust;
    packages = built;
  };

  inherit (built) platform;

  # dockerTools builds Linux images; on macOS build them on a Linux builder
  # with `--system x86_64-linux` instead.
  image = lib.optionalAttrs pkgs.stdenv.isLinux {
    image = import ./image.nix { inherit pkgs platform; };
  };
in
{
  packages = {
    inherit platform;
    default = platform;
  }
  // built.byService
  // image;

  inherit checks;

  devShells.default = import ./devshell.nix { inherit pkgs rust checks; };

  apps = rec {
    # `nix run . -- serve`, `nix run . -- migrate`, ...
    platform = {
      type = "app";
      program = "${built.platform}/bin/platform";
      meta.description = "Run the platform (serve, migrate, openapi, users)";
    };
    default = platform;
  };
}
