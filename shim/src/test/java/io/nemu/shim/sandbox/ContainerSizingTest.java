package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class ContainerSizingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ContainerSizing.Share share(String json) throws Exception {
        return ContainerSizing.Share.of(JSON.readTree(json));
    }

    @Test
    void aShareIsTheQuotaRoundedUpAndTheMemoryLimit() throws Exception {
        assertEquals(new ContainerSizing.Share(2, 512), share("{\"cpu\":{\"quota\":200000,\"period\":100000},"
                + "\"memory\":{\"limit\":536870912}}"));
        assertEquals(new ContainerSizing.Share(1, 1), share("{\"cpu\":{\"quota\":150,\"period\":100000},"
                + "\"memory\":{\"limit\":1}}"));
        assertEquals(new ContainerSizing.Share(3, 0), share("{\"cpu\":{\"quota\":250000,\"period\":100000}}"));
        // no quota (-1 is "unlimited"), or no period: no vCPUs
        assertEquals(ContainerSizing.Share.NONE, share("{\"cpu\":{\"quota\":-1,\"period\":100000,\"shares\":2}}"));
        assertEquals(ContainerSizing.Share.NONE, share("{\"cpu\":{\"quota\":100000}}"));
        assertEquals(ContainerSizing.Share.NONE, share("{}"));
    }

    @Test
    void totalsAddSharesToTheBaseWithinTheMaxima() throws Exception {
        ContainerSizing s = new ContainerSizing(1, 512, 4, 2048);
        ContainerSizing.Total t = s.totalWith("a", new ContainerSizing.Share(2, 512));
        assertEquals(new ContainerSizing.Total(3, 1024), t);
        assertEquals(new ContainerSizing.Total(1, 512), s.total(), "totalWith records nothing");
        s.set("a", new ContainerSizing.Share(2, 512));
        // an update replaces the container's share
        assertEquals(new ContainerSizing.Total(4, 1024), s.totalWith("a", new ContainerSizing.Share(3, 512)));
        ContainerSizing.OverLimit e = assertThrows(ContainerSizing.OverLimit.class,
                () -> s.totalWith("b", new ContainerSizing.Share(2, 0)));
        assertEquals("container b asks for 2 vCPUs: the sandbox would need 5, above default_maxvcpus 4", e.getMessage());
        e = assertThrows(ContainerSizing.OverLimit.class, () -> s.totalWith("b", new ContainerSizing.Share(0, 1025)));
        assertEquals("container b asks for 1025 MiB: the sandbox would need 2049 MiB, above default_maxmemory 2048 MiB",
                e.getMessage());
        assertEquals(new ContainerSizing.Share(2, 512), s.remove("a"));
        assertEquals(new ContainerSizing.Total(1, 512), s.total());
    }

    @Test
    void withoutConfiguredMaximaTheBootSizeIsTheCeiling() {
        ContainerSizing s = new ContainerSizing(1, 512, 0, 0);
        assertThrows(ContainerSizing.OverLimit.class, () -> s.totalWith("a", new ContainerSizing.Share(1, 0)));
    }
}
