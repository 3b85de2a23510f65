package io.nemu.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nemu.proto.kata.VolumeCondition;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.VolumeUsage;
import org.junit.jupiter.api.Test;

class DirectVolumeCommandTest {

    @Test
    void printsTheAgentsAnswerAsKatasShimDoes() {
        VolumeStatsResponse r = VolumeStatsResponse.newBuilder()
                .addUsage(VolumeUsage.newBuilder().setTotal(16777216).setAvailable(12582912).setUsed(4194304)
                        .setUnit(VolumeUsage.Unit.BYTES))
                .addUsage(VolumeUsage.newBuilder().setTotal(1000).setAvailable(998).setUsed(2)
                        .setUnit(VolumeUsage.Unit.INODES))
                .setVolumeCondition(VolumeCondition.newBuilder().setMessage("OK")).build();
        assertEquals("{\"usage\":[{\"available\":12582912,\"total\":16777216,\"used\":4194304,\"unit\":1},"
                + "{\"available\":998,\"total\":1000,\"used\":2,\"unit\":2}],"
                + "\"volume_condition\":{\"abnormal\":false,\"message\":\"OK\"}}", DirectVolumeCommand.json(r));
    }
}
