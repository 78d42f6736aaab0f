# The Rust toolchain, crane, the filtered workspace source and the one
# dependency build that every package and check reuses.
#
# Knows nothing about which crates exist: packages.nix and checks.nix decide
# what to build from `commonArgs` and `cargoArtifacts`.
{
  pkgs,
  crane,
  root,
}:
let
  inherit (pkgs) lib;

  # Pinned to the compiler the team develops with. The workspace's MSRV is
  # `rust-version = "1.94"` in Cargo.toml, so any stable >= 1.94 works; bump
  # this together with the team's toolchain. One toolchain serves builds,
  # checks and the dev shell, so `nix develop` compiles exactly what CI does.
  rustVersion = "1.95.0";
  toolchain =
    p:
    p.rust-bin.stable.${rustVersion}.default.override {
      # `default` already carries cargo, rustc, clippy and rustfmt.
      extensions = [
        "rust-src"
        "rust-analyzer"
      ];
    };

  craneLib = (crane.mkLib pkgs).overrideToolchain toolchain;

  cargoToml = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));

  # Files that are not Cargo sources but that the crates read at build or test
  # time (`include_str!`, migrations, fixtures, the checked-in OpenAPI spec).
  # If a crate starts embedding another kind of file, add its suffix here:
  # a file filtered out only fails inside Nix, which `cargo` users never see.
  assetSuffixes = [
    ".sql"
    ".toml"
    ".json"
    ".html"
    ".css"
    ".js"
  ];
  # Whole directories kept as they are, whatever their files are called.
  assetDirs = [
    "openapi"
    "migrations"
    "fixtures"
  ];
  # Never part of the build, even when the flake is used as `path:` (a git
  # flake already drops untracked files such as target/ and var/).
  ignoredDirs = [
    ".git"
    "target"
    "var"
    "result"
  ];

  relative = path: lib.removePrefix (toString root + "/") (toString path);
  components = path: lib.splitString "/" (relative path);

  sourceFilter =
    path: type:
    let
      parts = components path;
    in
    !(lib.any (d: lib.elem d ignoredDirs) parts)
    && (
      craneLib.filterCargoSources path type
      || lib.any (s: lib.hasSuffix s (baseNameOf path)) assetSuffixes
      || lib.any (d: lib.elem d assetDirs) parts
    );

  src = lib.cleanSourceWith {
    src = root;
    filter = sourceFilter;
    name = "source";
  };

  commonArgs = {
    inherit src;
    # The root manifest is virtual, so crane cannot guess a name for the
    # workspace-wide derivations.
    pname = "platform-workspace";
    inherit (cargoToml.workspace.package) version;
    strictDeps = true;

    # rustls + ring and SQLite's bundled build need only the C compiler that
    # stdenv brings; there is no OpenSSL to link.
    buildInputs = lib.optionals pkgs.stdenv.isDarwin [ pkgs.libiconv ];
  };

  # Every dependency of every workspace member, built once (release profile,
  # all targets). Packages and checks start from this target directory.
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;
in
{
  inherit
    craneLib
    commonArgs
    cargoArtifacts
    src
    sourceFilter
    ;
  # The toolchain as a package, for the dev shell.
  toolchain = toolchain pkgs;
}
