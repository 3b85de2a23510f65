package io.nemu.firmware;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModulesDepTest {

    private static ModulesDep fixture() throws IOException {
        try (var r = new InputStreamReader(ModulesDepTest.class.getResourceAsStream("modules.dep"),
                StandardCharsets.UTF_8)) {
            return ModulesDep.parse(r);
        }
    }

    private static void assertBefore(List<String> order, String first, String then) {
        int a = order.indexOf(first);
        int b = order.indexOf(then);
        assertTrue(a >= 0 && b >= 0 && a < b, first + " must load before " + then + " in " + order);
    }

    @Test
    void dependenciesComeFirstAndEachModuleOnce() throws IOException {
        ModulesDep.Resolution r = fixture().resolve(
                List.of("virtio_net", "virtiofs", "vmw_vsock_virtio_transport", "virtio-pci", "fuse"), Set.of());
        List<String> order = r.loadOrder();
        assertEquals(order.size(), Set.copyOf(order).size(), "duplicates in " + order);
        assertEquals(13, order.size(), order.toString());
        assertBefore(order, "kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko");
        assertBefore(order, "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko");
        assertBefore(order, "kernel/drivers/virtio/virtio.ko", "kernel/drivers/net/virtio_net.ko");
        assertBefore(order, "kernel/fs/fuse/fuse.ko", "kernel/fs/fuse/virtiofs.ko");
        assertBefore(order, "kernel/net/vmw_vsock/vsock.ko",
                "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko");
        assertBefore(order, "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko",
                "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko");
        assertBefore(order, "kernel/drivers/virtio/virtio_pci_modern_dev.ko", "kernel/drivers/virtio/virtio_pci.ko");
        assertTrue(r.builtin().isEmpty());
    }

    @Test
    void builtinModulesAreSkippedAndReported() throws IOException {
        ModulesDep.Resolution r = fixture().resolve(List.of("virtio_blk", "evdev"), Set.of("virtio_blk"));
        assertEquals(List.of("kernel/drivers/input/evdev.ko"), r.loadOrder());
        assertEquals(List.of("virtio_blk"), r.builtin());
    }

    @Test
    void unknownModuleIsNamed() {
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> fixture().resolve(List.of("virtio", "no_such_mod", "other-missing"), Set.of()));
        assertTrue(e.getMessage().contains("no_such_mod") && e.getMessage().contains("other-missing"),
                e.getMessage());
    }

    @Test
    void cycleAndDanglingDependencyAreErrors() throws IOException {
        ModulesDep cyclic = ModulesDep.parse(new StringReader("a.ko: b.ko\nb.ko: a.ko\n"));
        FirmwareException cycle = assertThrows(FirmwareException.class, () -> cyclic.resolve(List.of("a"), Set.of()));
        assertTrue(cycle.getMessage().contains("cycle"), cycle.getMessage());

        ModulesDep dangling = new ModulesDep(Map.of("x/a.ko", List.of("x/gone.ko")));
        FirmwareException gone = assertThrows(FirmwareException.class, () -> dangling.resolve(List.of("a"), Set.of()));
        assertTrue(gone.getMessage().contains("x/gone.ko"), gone.getMessage());
    }

    @Test
    void malformedLineNamesItsNumber() {
        FirmwareException e = assertThrows(FirmwareException.class,
                () -> ModulesDep.parse(new StringReader("a.ko:\nthis line has no colon\n")));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void formatWritesModulesDepLines() throws IOException {
        ModulesDep d = fixture();
        String text = d.format(List.of("kernel/fs/fuse/fuse.ko", "kernel/fs/fuse/virtiofs.ko"));
        assertEquals("kernel/fs/fuse/fuse.ko:\nkernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko"
                + " kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n", text);
        assertEquals(d.paths(), ModulesDep.parse(new StringReader(d.format(d.paths()))).paths());
        assertEquals("virtio_pci", ModulesDep.moduleName("kernel/drivers/virtio/virtio-pci.ko.xz"));
    }
}
