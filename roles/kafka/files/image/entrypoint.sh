#!/bin/sh
# Formats an empty log directory (a new cluster id, standalone KRaft controller) once, then runs the broker in the
# foreground. KAFKA_HEAP and KAFKA_METRICS_PORT come from the kafka role.
set -eu
config=/etc/cdc-lab/kafka/server.properties
classpath='/opt/kafka/libs/*'
logging=-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  cluster_id=$(java -Xmx64m "$logging" -cp "$classpath" kafka.tools.StorageTool random-uuid)
  echo "cdc-lab: formatting the empty log directory for cluster $cluster_id"
  java -Xmx128m "$logging" -cp "$classpath" kafka.tools.StorageTool format --standalone \
    --cluster-id "$cluster_id" --config "$config" --ignore-formatted
fi
# shellcheck disable=SC2086 # KAFKA_JVM_OPTS is a list of options
exec java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" $KAFKA_JVM_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true "$logging" \
  -javaagent:/opt/jmx/jmx_prometheus_javaagent.jar="$KAFKA_METRICS_PORT":/opt/kafka/config/jmx.yml \
  -cp "$classpath" kafka.Kafka "$config"
