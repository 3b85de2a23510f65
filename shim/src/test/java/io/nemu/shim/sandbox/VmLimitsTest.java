package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.oci.Bundle;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class VmLimitsTest {
    private static Bundle bundle(String json) throws Exception {
        return new Bundle(Path.of("/b"), Bundle.json().readTree(json));
    }

    private static final String CRI = "\"annotations\": {\"io.kubernetes.cri.container-type\": \"sandbox\"}";

    @Test
    void aCriPodOnTheHostNetworkIsRefused() throws Exception {
        TaskException e = assertThrows(TaskException.class, () -> VmLimits.checkSandbox("s1",
                bundle("{" + CRI + ", \"linux\": {\"namespaces\": [{\"type\": \"pid\"}]}}")));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("sandbox s1: a host-network pod (hostNetwork: true) cannot run in a VM"),
                e.getMessage());
        assertDoesNotThrow(() -> VmLimits.checkSandbox("s1", bundle("{" + CRI
                + ", \"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": \"/var/run/netns/cni-1\"}]}}")));
        // ctr run, with or without --net-host: no CRI annotation, the VM goes on without a NIC as documented.
        assertDoesNotThrow(() -> VmLimits.checkSandbox("s1", bundle("{\"linux\": {\"namespaces\": []}}")));
        assertDoesNotThrow(() -> VmLimits.checkSandbox("s1",
                bundle("{\"linux\": {\"namespaces\": [{\"type\": \"network\"}]}}")));
    }

    @Test
    void bidirectionalPropagationIsRefusedHostToContainerIsNot() {
        Spec.Builder spec = Spec.newBuilder().addMounts(Mount.newBuilder().setDestination("/data").setSource("/srv")
                .setType("bind").addOptions("rbind").addOptions("rslave"));
        assertDoesNotThrow(() -> VmLimits.checkMounts("c1", spec));
        spec.addMounts(Mount.newBuilder().setDestination("/mnt/out").setSource("/srv/out").setType("bind")
                .addOptions("rbind").addOptions("rshared"));
        TaskException e = assertThrows(TaskException.class, () -> VmLimits.checkMounts("c1", spec));
        assertTrue(e.getMessage().contains("container c1: mount /mnt/out asks for shared (Bidirectional) propagation"),
                e.getMessage());
    }
}
