# syntax=docker/dockerfile:1
# pg-kafka-cdc worker image: build with dev dependencies, run with production ones only.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig*.json ./
COPY src ./src
COPY schemas ./schemas
RUN npm run build

FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
RUN groupadd --gid 10001 pgkc \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin pgkc \
 && mkdir -p /etc/pg-kafka-cdc/connectors
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "--max-semi-space-size=16", "/app/dist/src/cli/main.js"]
CMD ["run", "--config", "/etc/pg-kafka-cdc/worker.json"]
