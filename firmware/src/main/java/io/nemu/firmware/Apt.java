package io.nemu.firmware;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Debian packages through apt: what the index offers, and the .deb files, kept in a cache directory. */
public final class Apt {

    /** A package version as the apt index describes it. */
    public record PackageInfo(String name, String version, String architecture, String sha256, long size) {
        /** The file name {@code apt-get download} gives it (an epoch's ':' becomes {@code %3a}). */
        public String debFileName() {
            return name + "_" + version.replace(":", "%3a") + "_" + architecture + ".deb";
        }
    }

    private final Path cacheDir;

    public Apt(Path cacheDir) {
        this.cacheDir = cacheDir;
    }

    public Path cacheDir() {
        return cacheDir;
    }

    /**
     * The newest package whose name matches {@code pattern} with one group being the numeric ABI,
     * e.g. {@code linux-image-6\.1\.0-([0-9]+)-amd64}; it must also be a POSIX ERE (apt-cache).
     */
    public String newest(Pattern pattern) throws FirmwareException {
        Proc.Result r = Proc.run(List.of("apt-cache", "search", "--names-only", "^" + pattern.pattern() + "$"),
                null, "apt");
        if (r.exitCode() != 0) {
            throw new FirmwareException("apt-cache search failed: " + r.lastErrorLine());
        }
        List<String> names = new ArrayList<>();
        for (String line : r.stdout().split("\n")) {
            String name = line.split(" ", 2)[0].trim();
            if (pattern.matcher(name).matches()) {
                names.add(name);
            }
        }
        return names.stream().max(Comparator.comparingLong(n -> {
            Matcher m = pattern.matcher(n);
            m.matches();
            return Long.parseLong(m.group(1));
        })).orElseThrow(() -> new FirmwareException("the apt index offers no package matching "
                + pattern.pattern() + " (run apt-get update; is the Debian main/security source configured?)"));
    }

    /** The version apt would install (the candidate) of {@code name}. */
    public PackageInfo show(String name) throws FirmwareException {
        return show(List.of(name)).get(0);
    }

    /** The candidates of {@code names}, in that order, from one apt-cache run (each run costs ~1.5 s). */
    public List<PackageInfo> show(List<String> names) throws FirmwareException {
        List<String> cmd = new ArrayList<>(List.of("apt-cache", "show", "--no-all-versions"));
        cmd.addAll(names);
        Proc.Result r = Proc.run(cmd, null, "apt");
        java.util.Map<String, PackageInfo> found = new java.util.HashMap<>();
        for (String stanza : r.stdout().split("\n\s*\n")) {
            if (stanza.isBlank()) {
                continue;
            }
            String name = field(stanza, "Package", "?");
            found.putIfAbsent(name, new PackageInfo(name, field(stanza, "Version", name),
                    field(stanza, "Architecture", name), field(stanza, "SHA256", name),
                    Long.parseLong(field(stanza, "Size", name))));
        }
        List<PackageInfo> out = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (String n : names) {
            PackageInfo p = found.get(n);
            if (p == null) {
                missing.add(n);
            } else {
                out.add(p);
            }
        }
        if (!missing.isEmpty()) {
            throw new FirmwareException("package " + String.join(", ", missing) + " not found in the apt index"
                    + " (run apt-get update, check the name)"
                    + (r.exitCode() != 0 ? ": " + r.lastErrorLine() : ""));
        }
        return out;
    }

    private static String field(String stanza, String key, String pkg) throws FirmwareException {
        Matcher m = Pattern.compile("(?m)^" + key + ":\\s*(\\S+)\\s*$").matcher(stanza);
        if (!m.find()) {
            throw new FirmwareException("apt-cache show " + pkg + " gives no " + key + " field");
        }
        return m.group(1);
    }

    /**
     * The .deb of {@code pkg} in the cache, downloaded with {@code apt-get download} unless a copy with the
     * index's sha256 is there already. A download that does not match the index is a corrupt .deb.
     */
    public Path download(PackageInfo pkg) throws IOException {
        Files.createDirectories(cacheDir);
        Path deb = cacheDir.resolve(pkg.debFileName());
        if (Files.isRegularFile(deb) && Sha256.of(deb).equals(pkg.sha256())) {
            return deb;
        }
        Files.deleteIfExists(deb);
        DiskSpace.require(cacheDir, pkg.size() + (64L << 20), "downloading " + pkg.name());
        Proc.Result r = Proc.run(List.of("apt-get", "download", "-q", pkg.name() + "=" + pkg.version()),
                cacheDir, "apt");
        if (r.exitCode() != 0) {
            String why = r.stderr() + r.stdout();
            if (why.contains("No space left") || why.contains("not have enough free space")) {
                throw new FirmwareException("no space left in " + cacheDir + " to download " + pkg.name());
            }
            throw new FirmwareException("apt-get download " + pkg.name() + "=" + pkg.version() + " failed: "
                    + r.lastErrorLine());
        }
        if (!Files.isRegularFile(deb)) {
            throw new FirmwareException("apt-get download " + pkg.name() + " did not leave " + deb);
        }
        String sha = Sha256.of(deb);
        if (!sha.equals(pkg.sha256())) {
            Files.deleteIfExists(deb);
            throw new FirmwareException("corrupt .deb: " + deb.getFileName() + " has sha256 " + sha
                    + " but the apt index says " + pkg.sha256() + " (deleted; run the build again)");
        }
        return deb;
    }

    /** Unpacks {@code deb} into {@code dir} with {@code dpkg-deb -x}. */
    public static void unpack(Path deb, Path dir) throws IOException {
        Files.createDirectories(dir);
        Proc.Result r = Proc.run(List.of("dpkg-deb", "-x", deb.toString(), dir.toString()), null, "dpkg");
        if (r.exitCode() != 0) {
            String why = r.stderr();
            if (why.contains("No space left")) {
                throw new FirmwareException("no space left in " + dir + " to unpack " + deb.getFileName());
            }
            throw new FirmwareException("corrupt .deb: dpkg-deb -x " + deb.getFileName() + " failed: "
                    + r.lastErrorLine());
        }
    }
}
