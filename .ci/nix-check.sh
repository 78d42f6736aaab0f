#!/usr/bin/env bash
# Checks the Nix side of the repository without network: nixpkgs, crane and
# rust-overlay cannot be fetched here, so instead of `nix flake check` this
#   (a) parses every *.nix file, and
#   (b) evaluates flake.nix's outputs against small stand-ins for its inputs
#       (written below into a temp dir) and forces the derivations of every
#       package, check, dev shell and app, asserting the expected names exist;
#   (c) validates nix/nats/server.conf with nats-server, when installed.
# The stand-ins mimic the interfaces the flake uses (nixpkgs' lib functions and
# package attributes, crane's builders, rust-overlay's rust-bin); they do not
# build anything. The flake's own logic (source filter, package list, checks,
# image, apps) is what gets evaluated for real.
#
# Runs as root in CI (installs nix-bin from Debian if missing, Nix 2.8); works
# as any user once Nix is installed. Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "nix-check: installing nix-bin" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Quiet unless it fails (debconf chatters on stderr even when it works).
  if ! { apt-get update -qq && apt-get install -y -qq nix-bin; } >"$tmp/apt.log" 2>&1; then
    cat "$tmp/apt.log" >&2
    echo "nix-check: could not install nix-bin" >&2
    exit 1
  fi
fi

# Nix settings: evaluation only, in read-only mode, needs no daemon and no
# build users, but it still opens a store. Point it at a throwaway local
# store under $tmp (NIX_REMOTE), so the run neither needs /nix/var writable
# (non-root) nor touches the machine's store or a running daemon (root), and
# keep the machine's and the user's nix.conf out of it (NIX_CONF_DIR,
# NIX_USER_CONF_FILES; Debian's sets `sandbox = false`, harmless, but a
# developer's may enable a daemon store or plugins).
mkdir -p "$tmp/conf" "$tmp/home"
: >"$tmp/conf/nix.conf"
export NIX_REMOTE="local?root=$tmp/nix-root"
export NIX_CONF_DIR="$tmp/conf"
export NIX_USER_CONF_FILES="$tmp/conf/nix.conf"
export HOME="$tmp/home"
export XDG_CACHE_HOME="$tmp/home/.cache"

# (a) Syntax of every Nix file outside build output and VCS metadata.
mapfile -t nixFiles < <(
  find . -type d \( -name target -o -name .git -o -name node_modules -o -name var \) -prune \
    -o -type f -name '*.nix' -print | sort
)
if [ "${#nixFiles[@]}" -eq 0 ]; then
  echo "nix-check: no .nix files found" >&2
  exit 1
fi
for f in "${nixFiles[@]}"; do
  if ! nix-instantiate --parse "$f" >/dev/null; then
    echo "nix-check: parse error in $f" >&2
    exit 1
  fi
done

# (b) Stand-ins for the flake inputs.
mkdir -p "$tmp/stubs/nixpkgs"

cat >"$tmp/stubs/nixpkgs/lib.nix" <<'EOF'
# The few nixpkgs lib functions the flake uses, written with builtins.
rec {
  inherit (builtins) mapAttrs elem any all filter concatMap attrNames attrValues isFunction;
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  optionals = cond: list: if cond then list else [ ];
  optionalAttrs = cond: set: if cond then set else { };
  optionalString = cond: s: if cond then s else "";
  hasPrefix = pre: s: builtins.substring 0 (builtins.stringLength pre) s == pre;
  hasSuffix = suf: s:
    let ls = builtins.stringLength s; lf = builtins.stringLength suf;
    in ls >= lf && builtins.substring (ls - lf) lf s == suf;
  hasInfix = inf: s: builtins.match ".*${escapeRegex inf}.*" s != null;
  removePrefix = pre: s:
    if hasPrefix pre s then builtins.substring (builtins.stringLength pre) (-1) s else s;
  escapeRegex = builtins.replaceStrings
    [ "\\" "[" "]" "{" "}" "(" ")" "." "*" "+" "?" "^" "$" "|" ]
    [ "\\\\" "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\." "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];
  splitString = sep: s: builtins.filter builtins.isString (builtins.split (escapeRegex sep) s);
  fix = f: let x = f x; in x;
  # Like nixpkgs: the filter sees absolute paths under `src` and prunes
  # directories it rejects; the result is a store path (computed, not copied,
  # in read-only evaluation), so the real filter runs over the real tree.
  cleanSourceWith = { src, filter ? (_: _: true), name ? "source" }: {
    _isLibCleanSourceWith = true;
    origSrc = src;
    inherit filter name;
    outPath = builtins.path { path = src; inherit filter name; };
  };
}
EOF

cat >"$tmp/stubs/nixpkgs/default.nix" <<'EOF'
# `import nixpkgs { system; overlays; }`: packages are derivations whose builder
# fails if ever run; they exist to be named, depended on and hashed.
{ system, overlays ? [ ], config ? { }, ... }:
let
  lib = import ./lib.nix;
  isLinux = lib.hasSuffix "-linux" system;
  isDarwin = lib.hasSuffix "-darwin" system;

  # Like stdenv.mkDerivation: meta/passthru stay out of the derivation, env
  # is flattened into it; every other attribute must coerce to a string, as
  # for a real derivation (a stray attrset or function fails here too).
  mkDrv = args:
    let
      name = args.name or "${args.pname}-${args.version}";
      drvArgs = builtins.removeAttrs args [ "meta" "passthru" "env" "name" ] // (args.env or { });
      drv = derivation (drvArgs // {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" "echo 'stub nixpkgs cannot build' >&2; exit 1" ];
      });
    in
    drv // { meta = args.meta or { }; } // (args.passthru or { });

  leaf = name: mkDrv { inherit name; };

  base = final: {
    inherit lib system;
    stdenv = {
      inherit isLinux isDarwin;
      hostPlatform = { inherit system isLinux isDarwin; };
      mkDerivation = mkDrv;
    };
    mkShell = { name ? "nix-shell", packages ? [ ], inputsFrom ? [ ], nativeBuildInputs ? [ ], buildInputs ? [ ], ... }@args:
      mkDrv (builtins.removeAttrs args [ "packages" "inputsFrom" ] // {
        inherit name;
        nativeBuildInputs = nativeBuildInputs ++ packages
          ++ lib.concatMap (d: (d.nativeBuildInputs or [ ]) ++ (d.buildInputs or [ ])) inputsFrom;
        inherit buildInputs;
      });
    runCommand = name: env: buildCommand: mkDrv (env // { inherit name buildCommand; });
    writeTextDir = path: text: mkDrv { name = baseNameOf path; inherit path text; };
    dockerTools.buildLayeredImage = { name, tag ? "latest", contents ? [ ], config ? { }, fakeRootCommands ? "", ... }:
      mkDrv {
        name = "docker-image-${name}.tar.gz";
        inherit tag contents fakeRootCommands;
        config = builtins.toJSON config;
      };
    cacert = leaf "nss-cacert";
    postgresql = leaf "postgresql";
    nats-server = leaf "nats-server";
    natscli = leaf "natscli";
    sea-orm-cli = leaf "sea-orm-cli";
    cargo-nextest = leaf "cargo-nextest";
    libiconv = if isDarwin then leaf "libiconv" else leaf "glibc-iconv";
    # Like nixpkgs: Chromium is built for Linux only.
    chromium = if isLinux then leaf "chromium" else throw "chromium is not available on ${system}";
  };
in
lib.fix (final: builtins.foldl' (prev: overlay: prev // overlay final prev) (base final) overlays)
EOF

cat >"$tmp/stubs/rust-overlay.nix" <<'EOF'
# rust-overlay's `rust-bin.stable.<version>.<profile>.override { extensions; targets; }`.
# Offers only versions >= the workspace's rust-version, so pinning an older
# toolchain fails here as it would fail to build the workspace.
root: final: prev:
let
  lib = prev.lib;
  msrv = (builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"))).workspace.package.rust-version;
  msrvMinor = builtins.fromJSON (builtins.elemAt (lib.splitString "." msrv) 1);
  components = [ "rust-src" "rust-analyzer" "clippy" "rustfmt" "rust-docs" "llvm-tools" "llvm-tools-preview" "miri" "rustc-dev" ];
  toolchain = version: profile: extensions:
    assert lib.all (e: lib.elem e components) extensions;
    final.stdenv.mkDerivation { name = "rust-${profile}-${version}"; inherit extensions; }
    // { override = { extensions ? [ ], targets ? [ ] }: toolchain version profile extensions; };
  release = version: {
    default = toolchain version "default" [ ];
    minimal = toolchain version "minimal" [ ];
    complete = toolchain version "complete" [ ];
  };
  versions = builtins.genList (i: "1.${toString (msrvMinor + i)}.0") 20;
in
{
  rust-bin.stable = lib.genAttrs versions release // { latest = release "latest"; };
}
EOF

cat >"$tmp/stubs/crane.nix" <<'EOF'
# crane's `mkLib pkgs` with the builders the flake uses. Required arguments are
# required here too, so a call missing one fails as it would with crane.
{
  mkLib = pkgs:
    let
      lib = pkgs.lib;
      mkCraneLib = toolchain: rec {
        overrideToolchain = t: mkCraneLib (if lib.isFunction t then t pkgs else t);

        # Same rule as crane: directories, Rust sources, TOML, Cargo.lock.
        filterCargoSources = path: type:
          let base = baseNameOf (toString path);
          in type == "directory" || base == "Cargo.lock"
            || lib.hasSuffix ".rs" base || lib.hasSuffix ".toml" base;

        mkCargoDerivation = { cargoArtifacts, buildPhaseCargoCommand, checkPhaseCargoCommand ? "", installPhaseCommand ? "mkdir -p $out", ... }@args:
          pkgs.stdenv.mkDerivation (builtins.removeAttrs args [ "buildPhaseCargoCommand" "checkPhaseCargoCommand" "installPhaseCommand" "pnameSuffix" ] // {
            pname = "${args.pname or "crate"}${args.pnameSuffix or ""}";
            version = args.version or "0.0.1";
            nativeBuildInputs = (args.nativeBuildInputs or [ ]) ++ lib.optionals (toolchain != null) [ toolchain ];
            buildPhase = buildPhaseCargoCommand;
            checkPhase = "runHook preCheck; ${checkPhaseCargoCommand}; runHook postCheck";
            installPhase = installPhaseCommand;
          });

        buildDepsOnly = { src, ... }@args: mkCargoDerivation (args // {
          cargoArtifacts = null;
          pnameSuffix = "-deps";
          buildPhaseCargoCommand = "cargo check --release --all-targets";
        });

        buildPackage = { src, ... }@args: mkCargoDerivation (builtins.removeAttrs args [ "cargoExtraArgs" ] // {
          cargoArtifacts = args.cargoArtifacts or (buildDepsOnly args);
          buildPhaseCargoCommand = "cargo build --release ${args.cargoExtraArgs or "--locked"}";
        });

        cargoClippy = { cargoArtifacts, ... }@args: mkCargoDerivation (builtins.removeAttrs args [ "cargoClippyExtraArgs" "cargoExtraArgs" ] // {
          pnameSuffix = "-clippy";
          buildPhaseCargoCommand = "cargo clippy ${args.cargoExtraArgs or "--locked"} ${args.cargoClippyExtraArgs or "--all-targets"}";
        });

        cargoFmt = { src, ... }@args: mkCargoDerivation (builtins.removeAttrs args [ "rustFmtExtraArgs" ] // {
          cargoArtifacts = null;
          pnameSuffix = "-fmt";
          buildPhaseCargoCommand = "cargo fmt --check";
        });

        cargoNextest = { cargoArtifacts, ... }@args: mkCargoDerivation (builtins.removeAttrs args [ "cargoExtraArgs" "cargoNextestExtraArgs" "partitions" "partitionType" ] // {
          pnameSuffix = "-nextest";
          doCheck = args.doCheck or true;
          buildPhaseCargoCommand = "mkdir -p $out";
          checkPhaseCargoCommand = "cargo nextest run ${args.cargoExtraArgs or "--locked"} ${args.cargoNextestExtraArgs or ""}";
          nativeBuildInputs = (args.nativeBuildInputs or [ ]) ++ [ pkgs.cargo-nextest ];
        });

        devShell = { checks ? { }, inputsFrom ? [ ], packages ? [ ], ... }@args:
          pkgs.mkShell (builtins.removeAttrs args [ "checks" ] // {
            inputsFrom = inputsFrom ++ builtins.attrValues checks;
            packages = packages ++ lib.optionals (toolchain != null) [ toolchain ];
          });
      };
    in
    mkCraneLib null;
}
EOF

cat >"$tmp/check.nix" <<'EOF'
# Evaluates the flake's outputs against the stand-ins and returns a summary,
# or throws naming what is missing or broken.
{ rootDir }:
let
  root = /. + rootDir;
  lib = import ./stubs/nixpkgs/lib.nix;
  inputs = {
    nixpkgs = { outPath = ./stubs/nixpkgs; inherit lib; };
    crane = import ./stubs/crane.nix // { outPath = ./stubs; };
    rust-overlay = { overlays.default = import ./stubs/rust-overlay.nix root; outPath = ./stubs; };
  };
  flake = import (root + "/flake.nix");
  # As Nix does for a flake: `self` is the outputs plus the source.
  self = flake.outputs (inputs // { inherit self; }) // { outPath = root; };

  main = "x86_64-linux";
  systems = builtins.attrNames self.packages;

  # Service crates on disk, except the binary that mounts them.
  services = builtins.filter
    (n: n != "platform" && builtins.pathExists (root + "/services/${n}/Cargo.toml"))
    (builtins.attrNames (builtins.readDir (root + "/services")));

  get = where: set: name:
    if builtins.isAttrs set && set ? ${name} then set.${name}
    else throw "nix-check: missing ${where}.${name}${
      lib.optionalString (lib.elem name services)
        " (services/${name} is a service crate: add \"${name}\" to the list in nix/packages.nix)"}";

  # Computing drvPath evaluates every attribute of the derivation and of all
  # the derivations it depends on.
  force = where: v:
    if (v.type or null) == "derivation" then builtins.seq v.drvPath true
    else throw "nix-check: ${where} is not a derivation";
  forceAll = where: set:
    lib.all (n: force "${where}.${n}" set.${n}) (builtins.attrNames set);

  need = cond: msg: if cond then true else throw "nix-check: ${msg}";

  pkgs = get "packages" self.packages main;
  checks = get "checks" self.checks main;
  apps = get "apps" self.apps main;
  shells = get "devShells" self.devShells main;

  platform = get "packages.${main}" pkgs "platform";
  image = get "packages.${main}" pkgs "image";
  expectedPackages = [ "platform" "default" "image" ] ++ services;
  expectedChecks = [ "clippy" "fmt" "tests" "tests-distributed" "nats-config" ];

  appOk = name:
    let app = get "apps.${main}" apps name;
    in need (app.type or null == "app") "apps.${main}.${name}.type is not \"app\""
      && need (app.program == "${platform}/bin/platform") "apps.${main}.${name} does not run ${platform}/bin/platform";

  distributed = checks.tests-distributed;

  # The source filter (nix/rust.nix) keeps what the crates read and drops
  # build output; probed with representative paths.
  rust = import (root + "/nix/rust.nix") {
    pkgs = import ./stubs/nixpkgs { system = main; overlays = [ inputs.rust-overlay.overlays.default ]; };
    inherit (inputs) crane;
    inherit root;
  };
  keep = p: t: rust.sourceFilter (toString root + "/" + p) t;
  kept = [
    [ "Cargo.toml" "regular" ] [ "Cargo.lock" "regular" ] [ "rustfmt.toml" "regular" ]
    [ "services/accounts/src/lib.rs" "regular" ] [ "openapi/openapi.json" "regular" ]
    [ "services/accounts/migrations/0001_init.sql" "regular" ]
    [ "shared/testkit/tests/fixtures/ball.bin" "regular" ] [ "shared/web/assets/docs.html" "regular" ]
    [ "shared/web/assets/widget.js" "regular" ] [ "shared/web/assets/widget.css" "regular" ]
  ];
  dropped = [
    [ "target" "directory" ] [ "var" "directory" ] [ ".git" "directory" ]
    [ "services/accounts/target/debug/build/x/out/gen.rs" "regular" ]
  ];
  filterOk =
    lib.all (p: need (keep (builtins.elemAt p 0) (builtins.elemAt p 1)) "source filter drops ${builtins.elemAt p 0}") kept
    && lib.all (p: need (!keep (builtins.elemAt p 0) (builtins.elemAt p 1)) "source filter keeps ${builtins.elemAt p 0}") dropped;

  ok =
    lib.all (n: force "packages.${main}.${n}" (get "packages.${main}" pkgs n)) expectedPackages
    && lib.all (n: force "checks.${main}.${n}" (get "checks.${main}" checks n)) expectedChecks
    && force "devShells.${main}.default" (get "devShells.${main}" shells "default")
    && appOk "platform" && appOk "default"
    && need (lib.hasInfix "--deny warnings" checks.clippy.buildPhase) "clippy does not deny warnings"
    && need (lib.hasInfix "--run-ignored all" distributed.checkPhase) "tests-distributed does not run the ignored tests"
    && need (lib.hasInfix "startTestServices" distributed.preCheck) "tests-distributed does not start its services"
    && need (distributed ? TEST_CHROMIUM) "tests-distributed gives the browser test no TEST_CHROMIUM"
    && need ((get "devShells.${main}" shells "default") ? TEST_CHROMIUM) "the dev shell sets no TEST_CHROMIUM"
    && need (lib.elem "0.0.0.0:8080" (map (e: lib.removePrefix "PLATFORM__HTTP__LISTEN=" e) (builtins.fromJSON (builtins.unsafeDiscardStringContext image.config)).Env)) "image does not listen on 0.0.0.0:8080"
    && filterOk
    # Every other system evaluates too (no image on macOS, no Chromium there).
    && lib.all (s:
      forceAll "packages.${s}" self.packages.${s}
      && forceAll "checks.${s}" self.checks.${s}
      && forceAll "devShells.${s}" self.devShells.${s}
      && lib.all (n: builtins.isString self.apps.${s}.${n}.program) (builtins.attrNames self.apps.${s}))
      systems;

  names = set: builtins.concatStringsSep "," (builtins.attrNames set);
in
assert ok;
"systems ${builtins.concatStringsSep "," systems}; ${main}: packages ${names pkgs}; checks ${names checks}; devShells ${names shells}; apps ${names apps}"
EOF

summary=$(nix-instantiate --eval --strict "$tmp/check.nix" --argstr rootDir "$root") || {
  echo "nix-check: flake evaluation failed" >&2
  exit 1
}
summary=${summary#\"}
summary=${summary%\"}

# (c) The NATS config, with the server that reads it.
if command -v nats-server >/dev/null 2>&1; then
  for conf in nix/nats/server.conf nix/nats/websocket-test.conf; do
    nats-server -c "$conf" -t >/dev/null 2>&1 || {
      nats-server -c "$conf" -t >&2 || true
      echo "nix-check: $conf is invalid" >&2
      exit 1
    }
  done
  natsNote="nats configs valid ($(nats-server --version))"
else
  natsNote="nats config not tested (no nats-server)"
fi

echo "nix-check: ok: parsed ${#nixFiles[@]} .nix files; flake evaluates: $summary; $natsNote"
