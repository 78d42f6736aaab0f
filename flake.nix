{
  description = "The platform: every service in one Rust workspace, built with crane";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    crane.url = "github:ipetkov/crane";
    # A Rust toolchain newer than nixpkgs' (the workspace needs >= 1.94).
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  # The pieces live in nix/: rust.nix (toolchain, source, shared dependency
  # build), packages.nix, checks.nix, devshell.nix, image.nix, nats/.
  outputs =
    {
      nixpkgs,
      crane,
      rust-overlay,
      ...
    }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      perSystem = nixpkgs.lib.genAttrs systems (
        system:
        import ./nix {
          inherit
            nixpkgs
            crane
            rust-overlay
            system
            ;
          root = ./.;
        }
      );
      output = name: nixpkgs.lib.mapAttrs (_: outputs: outputs.${name}) perSystem;
    in
    {
      packages = output "packages";
      checks = output "checks";
      devShells = output "devShells";
      apps = output "apps";
    };
}
