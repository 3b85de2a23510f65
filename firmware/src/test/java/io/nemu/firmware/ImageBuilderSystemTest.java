package io.nemu.firmware;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Builds the real image from Debian packages (apt, network to the Debian mirror the first time) into a
 * temporary directory, with the shared .deb cache ($NEMU_CACHE_DIR or ~/.cache/nemu).
 */
@Tag("system")
class ImageBuilderSystemTest {

    private static Path out;
    private static ImageBuilder.Result first;
    private static final List<String> steps = new ArrayList<>();

    @BeforeAll
    static void build() throws IOException {
        out = Files.createTempDirectory("nemu-image-test");
        first = ImageBuilder.builder().output(out).listener((s, t, what) -> steps.add(s + "/" + t + " " + what))
                .build().run();
    }

    @AfterAll
    static void cleanUp() {
        if (out != null) {
            ImageBuilder.deleteTree(out);
        }
    }

    @Test
    void manifestDescribesTheNewestKernelAndEveryFile() throws IOException {
        assertFalse(first.upToDate());
        Manifest m = Manifest.read(out);
        assertEquals(first.manifest(), m);
        assertTrue(m.kernelRelease().matches("6\\.1\\.0-\\d+-amd64"), m.kernelRelease());
        Manifest.Input kernel = m.input("linux-image-" + m.kernelRelease()).orElseThrow();
        assertEquals("deb", kernel.kind());
        assertTrue(kernel.sha256().matches("[0-9a-f]{64}"));
        Path deb = ImageBuilder.defaultCacheDir().resolve(
                new Apt.PackageInfo(kernel.name(), kernel.version(), "amd64", kernel.sha256(), 0).debFileName());
        assertEquals(kernel.sha256(), Sha256.of(deb), "cached .deb is the one the manifest names");
        assertTrue(m.input("busybox-static").isPresent());
        for (String mod : List.of("virtio_mmio.ko", "virtio_pci.ko", "virtiofs.ko", "vmw_vsock_virtio_transport.ko",
                "virtio_net.ko", "virtio_blk.ko", "virtio_mem.ko", "virtio_balloon.ko", "virtio_console.ko", "button.ko", "evdev.ko")) {
            assertTrue(m.modules().stream().anyMatch(p -> p.endsWith("/" + mod)), mod + " in " + m.modules());
        }
        GuestImage img = GuestImage.loadVerified(out);
        assertEquals(m.kernelRelease(), img.kernelRelease());
        assertEquals(9, steps.size(), steps.toString());
        assertTrue(steps.get(8).startsWith("9/9 "), steps.toString());
    }

    @Test
    void vmlinuxIsTheElfKernelWithAPvhEntry() throws IOException {
        GuestImage img = GuestImage.load(out);
        try (FileChannel ch = FileChannel.open(img.kernel())) {
            ByteBuffer elf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x464c457f, elf.getInt(0), "ELF magic");
            assertEquals(2, elf.get(4), "ELF64");
            assertEquals(62, elf.getShort(18), "x86-64");
            assertTrue(hasPvhNote(elf), "XEN_ELFNOTE_PHYS32_ENTRY note, which QEMU needs to boot vmlinux");
        }
        byte[] bz = Files.readAllBytes(img.kernelCompressed());
        assertEquals(BzImage.Compression.XZ, BzImage.payload(bz, "vmlinuz").compression(), "Debian 12 uses xz");
    }

    /** Looks for the "Xen" note of type 18 in the PT_NOTE segments. */
    private static boolean hasPvhNote(ByteBuffer elf) {
        long phoff = elf.getLong(0x20);
        int phentsize = elf.getShort(0x36);
        int phnum = elf.getShort(0x38);
        for (int i = 0; i < phnum; i++) {
            int ph = (int) (phoff + (long) i * phentsize);
            if (elf.getInt(ph) != 4) {
                continue;
            }
            int off = (int) elf.getLong(ph + 8);
            int end = off + (int) elf.getLong(ph + 32);
            while (off + 12 <= end) {
                int namesz = elf.getInt(off);
                int descsz = elf.getInt(off + 4);
                int type = elf.getInt(off + 8);
                byte[] name = new byte[Math.max(0, namesz - 1)];
                elf.get(off + 12, name);
                if (type == 18 && "Xen".equals(new String(name, StandardCharsets.US_ASCII))) {
                    return true;
                }
                off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
            }
        }
        return false;
    }

    @Test
    void initramfsHoldsInitBusyboxAndTheModulesInLoadOrder() throws Exception {
        GuestImage img = GuestImage.load(out);
        Process p = new ProcessBuilder("lz4", "-dc", img.initrd().toString()).start();
        byte[] cpio = p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor());
        Map<String, CpioArchiveEntry> entries = new HashMap<>();
        Map<String, String> text = new HashMap<>();
        try (CpioArchiveInputStream in = new CpioArchiveInputStream(new ByteArrayInputStream(cpio))) {
            for (CpioArchiveEntry e; (e = in.getNextCPIOEntry()) != null; ) {
                entries.put(e.getName(), e);
                if (e.getName().endsWith(".load") || e.getName().equals("init")
                        || e.getName().equals(GuestContractFile.PATH)) {
                    text.put(e.getName(), new String(in.readAllBytes(), StandardCharsets.UTF_8));
                }
            }
        }
        String rel = img.kernelRelease();
        assertTrue(entries.get("init").isRegularFile());
        assertTrue(text.get("init").contains("NEMU-GUEST-READY"));
        assertTrue(entries.get("bin/busybox").getSize() > 500_000);
        assertTrue(entries.get("bin/sh").isSymbolicLink());
        assertTrue(entries.get("sbin/insmod").isSymbolicLink());
        assertTrue(entries.get("dev/console").isCharacterDevice());
        assertTrue(entries.get("etc/acpi/PWRF/00000080").isRegularFile());
        assertEquals(GuestContractFile.render(), text.get(GuestContractFile.PATH));
        String load = text.get("lib/modules/" + rel + "/nemu-modules.load");
        assertEquals(String.join("\n", img.manifest().modules()) + "\n", load);
        for (String mod : img.manifest().modules()) {
            assertTrue(entries.containsKey("lib/modules/" + rel + "/" + mod), mod);
        }
    }

    @Test
    void unknownKernelPackageIsNamed() {
        FirmwareException e = org.junit.jupiter.api.Assertions.assertThrows(FirmwareException.class,
                () -> ImageBuilder.builder().output(out.resolve("other")).kernelPackage("linux-image-nemu-none")
                        .build().run());
        assertTrue(e.getMessage().contains("package linux-image-nemu-none not found in the apt index"), e.getMessage());
    }

    @Test
    void secondBuildWithTheSameInputsDoesNothing() throws IOException {
        var mtime = Files.getLastModifiedTime(out.resolve("vmlinux"));
        List<String> again = new ArrayList<>();
        ImageBuilder.Result r = ImageBuilder.builder().output(out).listener((s, t, w) -> again.add(w)).build().run();
        assertTrue(r.upToDate(), again.toString());
        assertEquals(first.manifest(), r.manifest());
        assertEquals(mtime, Files.getLastModifiedTime(out.resolve("vmlinux")), "vmlinux was not rewritten");
        assertTrue(again.get(again.size() - 1).contains("up to date"), again.toString());
    }
}
