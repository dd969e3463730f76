package dev.sluice.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Nexmark q5 and q7 as a Kafka Streams application, the peer of Sluice's
 * {@code CREATE MATERIALIZED VIEW q5 AS SELECT auction, window_start, count(*) ... FROM TUMBLE(bids,
 * "dateTime", INTERVAL '10' SECOND) ... EMIT ON WINDOW CLOSE}: bids (JSON, event time in
 * {@code dateTime}, epoch milliseconds) are counted per auction per 10 s tumbling window, and the
 * highest price per window is kept; each window's final result is written once it closes (after
 * the grace period given, none by default) to the topics {@code <application-id>-q5} and
 * {@code <application-id>-q7} as JSON.
 *
 * <p>For latency, two more queries read the topic {@code live} (bids carrying {@code sent}, the
 * producer's send time in epoch microseconds), the peers of Sluice's views in
 * {@code scripts/bench-kafka-latency}: {@code probes} writes {@code auction, price, sent} of every
 * bid whose {@code sent % 100 = 0} to {@code <application-id>-probes}; {@code counts} keeps
 * {@code count(*), max(sent)} per auction of the bids with {@code price % 50 = 0} and writes
 * every change to {@code <application-id>-counts}. With either, the record cache is off (every
 * update is forwarded at once, not at the next commit) and the producer's {@code linger.ms} is
 * 5 (the Kafka client's default, where Kafka Streams sets 100), as a user tuning for latency
 * would; "RUNNING" is printed once the application runs. At exit it prints
 * {@code dropped-records-total=<n>}, the records its tasks dropped (late ones among them).
 *
 * <p>Usage: {@code NexmarkStreams <bootstrap> <application-id> <exactly_once_v2|at_least_once>
 * [threads] [queries] [grace-seconds]}, queries a comma-separated list of {@code q5}, {@code q7},
 * {@code probes} and {@code counts} (default {@code q5,q7}). Offsets are committed every 100 ms
 * with either guarantee (exactly-once's default; at-least-once's is 30 s), so progress can be
 * read from the group's committed offsets. Runs until killed.
 */
public final class NexmarkStreams {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration WINDOW = Duration.ofSeconds(10);

  /** The bid's {@code dateTime} as its record's timestamp. */
  public static final class BidTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      JsonNode bid = parse((String) record.value());
      return bid == null ? partitionTime : bid.path("dateTime").asLong(partitionTime);
    }
  }

  private static JsonNode parse(String value) {
    try {
      return value == null ? null : JSON.readTree(value);
    } catch (Exception e) {
      return null;
    }
  }

  public static void main(String[] args) throws InterruptedException {
    if (args.length < 3) {
      System.err.println("usage: NexmarkStreams <bootstrap> <application-id> <exactly_once_v2|at_least_once> "
          + "[threads] [queries] [grace-seconds]");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[2]);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, args.length > 3 ? Integer.parseInt(args[3]) : 2);
    props.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, BidTime.class);
    props.put(StreamsConfig.STATE_DIR_CONFIG, System.getProperty("java.io.tmpdir") + "/kafka-streams-" + args[1]);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    String queries = args.length > 4 ? args[4] : "q5,q7";
    Duration grace = Duration.ofSeconds(args.length > 5 ? Long.parseLong(args[5]) : 0);

    StreamsBuilder builder = new StreamsBuilder();
    if (queries.contains("probes") || queries.contains("counts")) {
      latency(builder, args[1], queries);
      props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
      props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
      run(builder, props);
      return;
    }
    KStream<String, JsonNode> bids = builder
        .stream("bids", Consumed.with(Serdes.String(), Serdes.String()))
        .mapValues(NexmarkStreams::parse)
        .filter((k, bid) -> bid != null && bid.has("auction"));
    TimeWindows tumbling = TimeWindows.ofSizeAndGrace(WINDOW, grace);

    if (queries.contains("q5")) {
      bids.map((k, bid) -> KeyValue.pair(bid.get("auction").asLong(), 1L))
          .groupByKey(Grouped.with(Serdes.Long(), Serdes.Long()))
          .windowedBy(tumbling)
          .count(Materialized.with(Serdes.Long(), Serdes.Long()))
          .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
          .toStream()
          .map((window, num) -> KeyValue.pair(window.key().toString(), String.format(
              "{\"auction\":%d,\"window_start\":%d,\"num\":%d}", window.key(), window.window().start(), num)))
          .to(args[1] + "-q5", Produced.with(Serdes.String(), Serdes.String()));
    }

    if (queries.contains("q7")) {
      bids.map((k, bid) -> KeyValue.pair("all", bid.get("price").asLong()))
          .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()))
          .windowedBy(tumbling)
          .reduce(Math::max, Materialized.with(Serdes.String(), Serdes.Long()))
          .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
          .toStream()
          .map((window, max) -> KeyValue.pair(Long.toString(window.window().start()), String.format(
              "{\"window_start\":%d,\"max_price\":%d}", window.window().start(), max)))
          .to(args[1] + "-q7", Produced.with(Serdes.String(), Serdes.String()));
    }

    run(builder, props);
  }

  /** The latency queries over the topic {@code live}: see the class comment. */
  private static void latency(StreamsBuilder builder, String app, String queries) {
    KStream<String, JsonNode> live = builder
        .stream("live", Consumed.with(Serdes.String(), Serdes.String()))
        .mapValues(NexmarkStreams::parse)
        .filter((k, bid) -> bid != null && bid.has("auction") && bid.has("sent"));
    if (queries.contains("probes")) {
      live.filter((k, bid) -> bid.get("sent").asLong() % 100 == 0)
          .mapValues(bid -> String.format("{\"auction\":%d,\"price\":%d,\"sent\":%d}",
              bid.get("auction").asLong(), bid.get("price").asLong(), bid.get("sent").asLong()))
          .to(app + "-probes", Produced.with(Serdes.String(), Serdes.String()));
    }
    if (queries.contains("counts")) {
      // The aggregate is "count,max(sent)" as text, to need no serde of its own.
      live.filter((k, bid) -> bid.get("price").asLong() % 50 == 0)
          .map((k, bid) -> KeyValue.pair(bid.get("auction").asLong(), bid.get("sent").asLong()))
          .groupByKey(Grouped.with(Serdes.Long(), Serdes.Long()))
          .aggregate(() -> "0,0", (auction, sent, agg) -> {
            String[] parts = agg.split(",");
            return (Long.parseLong(parts[0]) + 1) + "," + Math.max(Long.parseLong(parts[1]), sent);
          }, Materialized.with(Serdes.Long(), Serdes.String()))
          .toStream()
          .map((auction, agg) -> {
            String[] parts = agg.split(",");
            return KeyValue.pair(auction.toString(), String.format(
                "{\"auction\":%d,\"num\":%s,\"sent\":%s}", auction, parts[0], parts[1]));
          })
          .to(app + "-counts", Produced.with(Serdes.String(), Serdes.String()));
    }
  }

  /** Records the tasks dropped (late for their window, or unreadable), over all tasks. */
  private static long droppedRecords(KafkaStreams streams) {
    return streams.metrics().entrySet().stream()
        .filter(e -> e.getKey().name().equals("dropped-records-total"))
        .mapToLong(e -> ((Number) e.getValue().metricValue()).longValue())
        .sum();
  }

  /** Runs the topology until the process is stopped. */
  private static void run(StreamsBuilder builder, Properties props) throws InterruptedException {
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        System.out.println("RUNNING");
        System.out.flush();
      }
    });
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.println("dropped-records-total=" + droppedRecords(streams));
      System.out.flush();
      streams.close(Duration.ofSeconds(10));
      done.countDown();
    }));
    streams.start();
    done.await();
  }
}
