package io.nemu.firmware;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.List;
import java.util.stream.Stream;

/**
 * The guest's root tree without the agent: folders, the device nodes the kernel needs before /init,
 * busybox and its applet links, {@code /init} and the other files from the {@code rootfs/} resources, the
 * generated {@link GuestContractFile}, and the kernel modules in load order.
 */
final class RootfsLayout {
    /** Files /init and friends, copied from resources into the initramfs: path, mode. */
    private static final List<String[]> ROOTFS_FILES = List.of(
            new String[] {"init", "755"},
            new String[] {"etc/acpi/PWRF/00000080", "755"},
            new String[] {"etc/passwd", "644"},
            new String[] {"etc/group", "644"});

    private RootfsLayout() {
    }

    /** The tree for {@code busybox} and the resolved modules of kernel {@code rel}. */
    static Initramfs build(Path busybox, Path moduleDir, String rel, ModulesDep dep, ModulesDep.Resolution mods)
            throws IOException {
        Initramfs t = new Initramfs();
        for (String d : List.of("dev", "proc", "sys", "run", "tmp", "mnt", "root", "var", "etc", "usr/bin",
                "usr/sbin", "sbin", "opt")) {
            t.dir(d, d.equals("tmp") ? 01777 : 0755);
        }
        t.dir("root", 0700);
        t.symlink("var/run", "../run");
        // The kernel opens /dev/console before /init runs, so the node must be in the archive.
        t.charDevice("dev/console", 0600, 5, 1);
        t.charDevice("dev/null", 0666, 1, 3);
        t.file("bin/busybox", 0755, busybox);
        for (String applet : busyboxApplets(busybox)) {
            if (!t.contains(applet)) {
                t.symlink(applet, "/bin/busybox");
            }
        }
        addFiles(t);
        String base = "lib/modules/" + rel + "/";
        for (String m : mods.loadOrder()) {
            t.file(base + m, 0644, moduleDir.resolve(m));
        }
        t.file(base + "modules.dep", 0644, dep.format(mods.loadOrder()));
        t.file(base + "nemu-modules.load", 0644, String.join("\n", mods.loadOrder()) + "\n");
        Path builtin = moduleDir.resolve("modules.builtin");
        t.file(base + "modules.builtin", 0644, builtin);
        return t;
    }

    /**
     * What a read-only root needs besides the tree: the agent writes /etc/resolv.conf (CreateSandbox's DNS), so it
     * points into the /run tmpfs.
     */
    static void readOnlyRoot(Initramfs t) {
        t.symlink("etc/resolv.conf", "../run/resolv.conf");
    }

    /** /init, the other resource files and the contract file /init sources. */
    static void addFiles(Initramfs t) throws IOException {
        for (String[] f : ROOTFS_FILES) {
            t.file(f[0], Integer.parseInt(f[1], 8), resource(f[0]));
        }
        t.file(GuestContractFile.PATH, 0644, GuestContractFile.render());
    }

    /** Feeds what {@link #addFiles} writes into a build's recipe hash: a change to it must rebuild. */
    static void digest(MessageDigest md) throws IOException {
        for (String[] f : ROOTFS_FILES) {
            md.update((f[0] + " " + f[1] + "\n").getBytes(StandardCharsets.UTF_8));
            md.update(resource(f[0]));
        }
        md.update((GuestContractFile.PATH + "\n" + GuestContractFile.render()).getBytes(StandardCharsets.UTF_8));
    }

    /** Applet paths from the busybox binary itself ({@code --list-full}), minus those /init replaces. */
    private static List<String> busyboxApplets(Path busybox) throws FirmwareException {
        Proc.Result r = Proc.run(List.of(busybox.toString(), "--list-full"), null, ImageBuilder.BUSYBOX_PACKAGE);
        if (r.exitCode() != 0) {
            throw new FirmwareException(busybox + " --list-full failed: " + r.lastErrorLine());
        }
        return Stream.of(r.stdout().split("\n")).map(String::trim)
                .filter(a -> !a.isEmpty() && a.contains("/") && !a.equals("sbin/init") && !a.equals("bin/busybox"))
                .sorted().toList();
    }

    /** A file of the {@code rootfs/} resources, e.g. {@code init}. */
    static byte[] resource(String path) throws IOException {
        try (InputStream in = RootfsLayout.class.getResourceAsStream("rootfs/" + path)) {
            if (in == null) {
                throw new FirmwareException("resource rootfs/" + path + " is missing from the firmware jar");
            }
            return in.readAllBytes();
        }
    }
}
